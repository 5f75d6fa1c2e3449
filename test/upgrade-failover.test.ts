/**
 * An upgrade that cannot start, on the device that took the app over. The holder ran the
 * version before healthy and is gone before the upgrade starts anywhere; the standby
 * takes over on its copy of the holder's data and runs the new version, which crashes at
 * every start. It gives the upgrade up for the version before all the same (the holder's
 * report says that version ran healthy on this data; its own note of it stayed on the
 * holder), and every device says so. Before, the app crashed on for good everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { buckyJson, cleanUp, type Daemon, scratchDir, startZone, waitFor } from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

/**
 * Devices count as gone after three missed heartbeats of 1.5 s: time enough to write the
 * upgrade with the holder paused, before the standby takes over. Failed starts restart
 * from 200 ms.
 */
const FAST = {
  BUCKY_HEARTBEAT_MS: "1500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
  BUCKY_APP_RESTART_MS: "200",
};

let daemons: Map<string, Daemon>;
const { home, status, notes, write, settled, install, killDevice } = notesApp(() => daemons);

/** The notes fixture at `version`; `crashing`, one that starts a migration and exits. */
function notesAt(version: string, crashing = false): string {
  const dir = join(scratchDir(), `notes-${version}`);
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
  const manifest = join(dir, "bucky-app.json");
  writeFileSync(
    manifest,
    JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), version }),
  );
  if (crashing)
    writeFileSync(
      join(dir, "server.ts"),
      ['console.error("notes 3.0.0 needs a newer database");', "process.exit(3);"].join("\n"),
    );
  return dir;
}

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], FAST);
}, 60_000);

describe("an upgrade that crashes at every start on the device that took the app over", () => {
  test("is given up for the version the holder ran, zone-wide", async () => {
    const holder = await install(notesAt("2.0.0"), "alpha");
    const others = ["alpha", "beta", "gamma"].filter((name) => name !== holder);
    await write(holder, "written on 2.0.0");
    const standby = (await settled(others[0] as string, holder)).data?.standbys[0]?.device;
    if (!standby) throw new Error("notes has no standby");
    const third = others.find((name) => name !== standby) as string;

    // The holder pauses (its daemon and the app) before it hears of the upgrade, then dies.
    const holderDaemon = daemons.get(holder) as Daemon;
    const appPid = Number(readFileSync(join(home(holder), "apps", "notes", "pid"), "utf8"));
    for (const pid of [holderDaemon.pid, appPid]) process.kill(pid, "SIGSTOP");
    await buckyJson(["app", "install", notesAt("3.0.0", true), "--no-wait", "--home", home(third)]);
    await waitFor(`${standby} to hear of the upgrade`, async () =>
      (await status(standby)).version === "3.0.0" ? true : undefined,
    );
    await killDevice(holder);

    const back = await waitFor(
      `${third} to say notes went back to 2.0.0 on ${standby}`,
      async () => {
        const s = await status(third);
        return s.version === "2.0.0" && s.state === "running" && s.device === standby
          ? s
          : undefined;
      },
      45_000,
    );
    expect(back.error).toBe(
      `upgrade to 3.0.0 failed: ${standby} says "the process exited with code 3; its last output: notes 3.0.0 needs a newer database"; running 2.0.0`,
    );
    // On the holder's data, as the standby had it.
    expect(await notes(third)).toContain("written on 2.0.0");
  }, 120_000);
});
