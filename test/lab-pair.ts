/**
 * A zone of two devices in the namespace lab: "gw", which made it, and "server", which
 * joined it, each daemon listening on the lab's addresses. Registers its own setup and
 * clean-up hooks; call it once, at a test file's top level, before hooks of its own.
 */
import { afterAll, beforeAll } from "bun:test";
import { buckyJson, cleanUp, type Daemon, newHomePath, startDaemon } from "./harness.ts";
import { createLab, type Lab } from "./lab.ts";

export type Device = "gw" | "server";

export interface LabPair {
  readonly lab: Lab;
  readonly homes: Readonly<Record<Device, string>>;
  readonly daemons: Partial<Record<Device, Daemon>>;
}

export function labPair(env: Record<string, string>, port = 4411): LabPair {
  afterAll(cleanUp);
  const lab = createLab();
  const homes = { gw: newHomePath(), server: newHomePath() };
  const daemons: Partial<Record<Device, Daemon>> = {};
  afterAll(async () => {
    await Promise.all(Object.values(daemons).map((daemon) => daemon?.kill()));
    lab.destroy();
  });
  const start = async (device: Device) => {
    daemons[device] = await startDaemon(homes[device], env, {
      wrap: lab.on(device, []),
      listen: "0.0.0.0",
      port,
    });
  };
  beforeAll(async () => {
    await buckyJson(["init", "--home", homes.gw, "--device", "gw"]);
    await start("gw");
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", homes.gw]);
    await buckyJson(["join", token, "--home", homes.server, "--device", "server", "--no-start"], {
      wrap: lab.on("server", []),
    });
    await start("server");
  }, 60_000);
  return { lab, homes, daemons };
}
