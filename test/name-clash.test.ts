/**
 * Two devices holding the owner key, cut apart, each admit a device under the same name.
 * Healed, the zone keeps one under the name, the same one on every device, and every
 * device says which one lost it and what to do (`bucky devices`, `bucky status`), even once
 * the device that admitted it is gone; the one that lost it is told, when it calls, that it is no member and why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { type NameClash, nameClashWarning } from "../lib/zone/name-clashes.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { createLab, type Lab } from "./lab.ts";

afterAll(cleanUp);

const PEER_PORT = 4411;
const LAPTOP_PORT = 4412;
const ENV = { BUCKY_HEARTBEAT_MS: "500" };
type Device = "gw" | "server";

const lab: Lab = createLab();
const homes = { gw: newHomePath(), server: newHomePath() };
const daemons: Partial<Record<Device, Daemon>> = {};
const laptops: Daemon[] = [];

afterAll(async () => {
  await Promise.all([...Object.values(daemons), ...laptops].map((daemon) => daemon?.kill()));
  lab.destroy();
});

async function start(device: Device): Promise<void> {
  daemons[device] = await startDaemon(homes[device], ENV, {
    wrap: lab.on(device, []),
    listen: "0.0.0.0",
    port: PEER_PORT,
  });
}

interface Devices {
  devices: { name: string; id: string; status: string }[];
  nameClashes: NameClash[];
}

const devices = (device: Device) => buckyJson<Devices>(["devices", "--home", homes[device]]);

beforeAll(async () => {
  await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
  await start("gw");
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
  await buckyJson(["join", token, "--home", homes.server, "--device", "server", "--no-start"], {
    wrap: lab.on("server", []),
  });
  // The owner's second device: it admits devices too (`bucky zone owner-key` writes this file).
  copyFileSync(
    join(homes.gw, "identity", "owner.key"),
    join(homes.server, "identity", "owner.key"),
  );
  await start("server");
  // Each has heard the other (and holds its address) before they are cut apart: a laptop
  // admitted by either learns from it where the other is, and is told there once healed.
  await waitFor("gw and server to hear each other", async () => {
    const [onGw, onServer] = await Promise.all([devices("gw"), devices("server")]);
    const online = (d: Devices, name: string) =>
      d.devices.some((device) => device.name === name && device.status === "online");
    const heldInfo = async (home: string, of: Device) =>
      (await bucky(["state", "get", `devices/${of}/info`, "--home", home])).exitCode === 0;
    return online(onGw, "server") &&
      online(onServer, "gw") &&
      (await heldInfo(homes.gw, "server")) &&
      (await heldInfo(homes.server, "gw"))
      ? true
      : undefined;
  });
}, 60_000);

describe("one name admitted twice while apart", () => {
  test("healed, every device keeps the same one and says which lost it; that one is told", async () => {
    lab.block("gw", "server", true);
    const joined = await Promise.all(
      (["gw", "server"] as const).map(async (device) => {
        const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes[device]]);
        const home = newHomePath();
        const result = await buckyJson<{ device: { id: string } }>(
          ["join", token, "--home", home, "--device", "laptop", "--no-start"],
          { wrap: lab.on(device, []) },
        );
        return { admitter: device, home, id: result.device.id };
      }),
    );
    lab.block("gw", "server", false);

    // The same answer on both: one laptop kept, the other named as the one that lost it.
    const [onGw, onServer] = await waitFor(
      "both devices to hold the clash",
      async () => {
        const both = await Promise.all([devices("gw"), devices("server")]);
        return both.every((d) => d.nameClashes.length === 1) ? both : undefined;
      },
      20_000,
    );
    expect(onServer.nameClashes).toEqual(onGw.nameClashes);
    const members = (d: Devices) => d.devices.map(({ name, id }) => `${name} ${id}`);
    expect(members(onServer)).toEqual(members(onGw));
    const [clash] = onGw.nameClashes as [NameClash];
    const lost = joined.find((j) => j.id === clash.id);
    const kept = joined.find((j) => j.id === clash.keptId);
    expect([lost?.admitter, kept?.admitter].sort()).toEqual(["gw", "server"]);
    expect(clash).toMatchObject({ name: "laptop", admittedBy: lost?.admitter });
    expect(onGw.devices.find((d) => d.name === "laptop")?.id).toBe(kept?.id as string);
    const text = (await bucky(["devices", "--home", homes.gw])).stdout;
    expect(text).toContain(
      `! two devices were admitted as laptop at the same time, while the devices admitting them were apart: the zone keeps ${kept?.id}; the one ${lost?.admitter} admitted at ${clash.admittedAt} (${lost?.id}) is no member`,
    );

    // The device that admitted the loser gone: the other still says it.
    const other = lost?.admitter === "gw" ? "server" : "gw";
    await daemons[lost?.admitter as Device]?.kill();
    expect((await devices(other)).nameClashes).toEqual([clash]);
    const status = await buckyJson<{ nameClashes: NameClash[]; warnings: string[] }>([
      "status",
      "--home",
      homes[other],
    ]);
    expect(status.nameClashes).toEqual([clash]);
    expect(status.warnings).toContain(nameClashWarning(clash));

    // The loser, started, is told why every call it makes is refused.
    const loser = await startDaemon(lost?.home as string, ENV, {
      wrap: lab.on(other, []),
      listen: "0.0.0.0",
      port: LAPTOP_PORT,
    });
    laptops.push(loser);
    await waitFor(
      "the loser to be told",
      () =>
        loser.log().includes("another device was admitted as laptop at the same time as you")
          ? true
          : undefined,
      20_000,
    );
  }, 90_000);
});
