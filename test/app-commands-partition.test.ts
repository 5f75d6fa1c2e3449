/**
 * A person's app commands against what a device finds out by itself, across a partition,
 * in the namespace lab: the owner stops an app on gw while server, which runs it and
 * cannot hear gw, gives up its crashing upgrade for the version before. Healed, every
 * device says the version before, stopped: the device's finding did not undo the person's
 * command (it was written as a whole spec from server's view, later by the clock, and the
 * app ran again everywhere). Then two people's commands, one on each side of a partition:
 * healed, every device says both, and says them still with the device of one gone.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import type { LimitsAnswer } from "../lib/gateway/app-limits.ts";
import { buckyJson, scratchDir, waitFor } from "./harness.ts";
import { type Device, labPair } from "./lab-pair.ts";

/**
 * A failed app restarts after 1.5 s: the upgrade's third crash at start, which gives it up,
 * comes seconds after server holds it, well after the partition below begins.
 */
const { lab, homes, daemons } = labPair(
  { BUCKY_HEARTBEAT_MS: "500", BUCKY_CONVERGE_INTERVAL_MS: "300", BUCKY_APP_RESTART_MS: "1500" },
  4412,
);
const DEVICES: readonly Device[] = ["gw", "server"];

const status = (on: Device) =>
  buckyJson<AppStatus>(["app", "status", "notes", "--home", homes[on]]);

/** The notes app at `version`; at 2.0.0 it exits at every start. */
function notesAt(version: string): string {
  const dir = join(scratchDir(), `notes-${version}`);
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
  const manifest = join(dir, "bucky-app.json");
  writeFileSync(
    manifest,
    JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), version }),
  );
  if (version === "2.0.0")
    writeFileSync(
      join(dir, "server.ts"),
      'console.error("notes 2.0.0 cannot start");\nprocess.exit(3);\n',
    );
  return dir;
}

describe("an app stopped on a device cut off from the one giving its upgrade up", () => {
  test("healed, every device says the version before, stopped", async () => {
    await buckyJson(["app", "install", notesAt("1.0.0"), "--device", "server", "--home", homes.gw]);
    await waitFor("notes 1.0.0 running on server, as gw says", async () => {
      const s = await status("gw");
      return s.state === "running" && s.device === "server" && s.version === "1.0.0"
        ? true
        : undefined;
    });
    // Held by server before the install returns: server runs 2.0.0, and it crashes.
    const upgraded = await buckyJson<{ heldElsewhere: string }>([
      ...["app", "install", notesAt("2.0.0"), "--device", "server", "--home", homes.gw],
    ]);
    expect(upgraded.heldElsewhere).toBe("held");
    lab.block("gw", "server", true);
    await buckyJson(["app", "stop", "notes", "--no-wait", "--home", homes.gw]);
    await waitFor(
      "server to give 2.0.0 up for 1.0.0, as it says on its own",
      async () => {
        const s = await status("server");
        return s.version === "1.0.0" && s.error?.startsWith("upgrade to 2.0.0 failed")
          ? true
          : undefined;
      },
      30_000,
    );

    lab.block("gw", "server", false);
    const said = await waitFor(
      "both devices to say notes is stopped, at 1.0.0",
      async () => {
        const all = await Promise.all(DEVICES.map(status));
        // The version too: the stop may reach gw before server's giving up does.
        return all.every(
          (s) => s.desired === "stopped" && s.state === "stopped" && s.version === "1.0.0",
        )
          ? all
          : undefined;
      },
      30_000,
    ).catch(async () => Promise.all(DEVICES.map(status)));
    for (const s of said)
      expect({ desired: s.desired, state: s.state, version: s.version }).toEqual({
        desired: "stopped",
        state: "stopped",
        version: "1.0.0",
      });
    // Started again, it is the version before that runs, and every device says why.
    await buckyJson(["app", "start", "notes", "--home", homes.server]);
    for (const on of DEVICES)
      await waitFor(`${on} to say 1.0.0 runs, after 2.0.0 failed`, async () => {
        const s = await status(on);
        return s.state === "running" &&
          s.version === "1.0.0" &&
          s.error?.startsWith('upgrade to 2.0.0 failed: server says "')
          ? true
          : undefined;
      });
  }, 120_000);
});

describe("an upgrade on a device cut off from one that stops the app", () => {
  test("healed, every device says the upgrade, stopped: the stop, written later from before it, did not undo it", async () => {
    lab.block("gw", "server", true);
    // server upgrades (a good version), then gw, which has not heard of it, stops the app:
    // its spec, whole, names the version before.
    await buckyJson([
      "app",
      "install",
      notesAt("3.0.0"),
      "--device",
      "server",
      "--home",
      homes.server,
    ]);
    await buckyJson(["app", "stop", "notes", "--no-wait", "--home", homes.gw]);
    lab.block("gw", "server", false);
    const said = await waitFor(
      "both devices to say notes 3.0.0, stopped",
      async () => {
        const all = await Promise.all(DEVICES.map(status));
        return all.every((s) => s.version === "3.0.0" && s.desired === "stopped") ? all : undefined;
      },
      30_000,
    ).catch(async () => Promise.all(DEVICES.map(status)));
    for (const s of said)
      expect({ version: s.version, desired: s.desired }).toEqual({
        version: "3.0.0",
        desired: "stopped",
      });
  }, 60_000);
});

describe("commands given at once on two devices cut off from each other", () => {
  const limits = (on: Device) =>
    buckyJson<LimitsAnswer>(["app", "limit", "notes", "--home", homes[on]]);

  test("healed, both stand on every device, and on server with gw gone", async () => {
    await buckyJson(["app", "start", "notes", "--home", homes.gw]);
    lab.block("gw", "server", true);
    const on = (device: Device, args: string[]) =>
      buckyJson([...args, "--no-wait", "--home", homes[device]]);
    await on("gw", ["app", "limit", "notes", "--rps", "20"]);
    await on("gw", ["app", "share", "notes", "--with", "child"]);
    // Written later by the clock, each from server's view, which has neither of gw's.
    await on("server", ["app", "limit", "notes", "--bandwidth", "1MB/s"]);
    await on("server", ["app", "stop", "notes"]);
    lab.block("gw", "server", false);

    const both = async (device: Device) => {
      const [s, l] = await Promise.all([status(device), limits(device)]);
      return { desired: s.desired, shared: s.shared, limits: l.limits };
    };
    const expected = {
      desired: "stopped" as const,
      shared: ["child"],
      limits: { rps: 20, bandwidthBytesPerSecond: 1_000_000 },
    };
    const said = await waitFor(
      "both devices to say notes is stopped, shared with child, with both limits",
      async () => {
        const all = await Promise.all(DEVICES.map(both));
        return all.every((one) => Bun.deepEquals(one, expected)) ? all : undefined;
      },
      30_000,
    ).catch(async () => Promise.all(DEVICES.map(both)));
    for (const one of said) expect(one).toEqual(expected);

    await daemons.gw?.kill();
    expect(await both("server")).toEqual(expected);
  }, 90_000);
});
