/**
 * Two devices in the namespace lab, "gw" and "server", and the notes app running on one of
 * them with its copy caught up on the other: what the uplink tests start from. Registers
 * its own setup and clean-up hooks; call it once, at a test file's top level.
 */
import { beforeAll, expect } from "bun:test";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import { appFetch, buckyJson, type Daemon, waitFor } from "./harness.ts";
import type { Lab } from "./lab.ts";
import { type Device, labPair } from "./lab-pair.ts";

export type { Device };

export interface NotesPair {
  readonly lab: Lab;
  readonly daemons: Partial<Record<Device, Daemon>>;
  status(device: Device): Promise<AppStatus>;
  /** The device running the app, and the one holding its copy (known once set up). */
  holder(): Device;
  standby(): Device;
}

/** How large each note `writeNotes` writes is on the link: 10,000 characters that do not compress. */
export const NOTE_BYTES = 10_000;

/**
 * Installs the notes app from the zone whose gateway's home is `gwHome`, and waits until
 * it runs with its copy caught up on another device, as `gwStatus` says: its status then.
 */
export async function installNotesWithCopy(
  gwHome: string,
  gwStatus: () => Promise<AppStatus>,
): Promise<AppStatus> {
  await buckyJson([
    "app",
    "install",
    resolve(import.meta.dir, "../fixtures/apps/notes"),
    "--no-wait",
    "--home",
    gwHome,
  ]);
  return waitFor(
    "notes running, its copy on another device",
    async () => {
      const s = await gwStatus();
      return s.state === "running" && s.data?.standbys[0]?.lagMs === 0 ? s : undefined;
    },
    60_000,
  );
}

export function notesPair(env: Record<string, string>): NotesPair {
  const { lab, homes, daemons } = labPair(env);
  let holder: Device | undefined;
  const status = (device: Device) =>
    buckyJson<AppStatus>(["app", "status", "notes", "--home", homes[device]]);
  beforeAll(async () => {
    const running = await installNotesWithCopy(homes.gw, () => status("gw"));
    holder = running.device as Device;
  }, 120_000);
  const holderOf = (): Device => {
    if (!holder) throw new Error("the notes pair is not set up yet");
    return holder;
  };
  return {
    lab,
    daemons,
    status,
    holder: holderOf,
    standby: () => (holderOf() === "gw" ? "server" : "gw"),
  };
}

/** Writes `count` notes of NOTE_BYTES that do not compress through the app at `url`. */
export async function writeNotes(url: string, count: number): Promise<void> {
  for (let note = 0; note < count; note++) {
    const response = await appFetch(url, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text: randomBytes((NOTE_BYTES * 3) / 4).toString("base64") }),
    });
    expect(response.status).toBe(201);
  }
}
