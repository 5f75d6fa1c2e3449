/**
 * What a snapshot of a home holds, as the archiver's root:
 *
 *   identity/        the device key, sealed to the zone's owner as `device.key.sealed`
 *                    (sealed-device-key.ts: every member holds the backup key, so it is
 *                    never in the clear); the owner and backup keys are left out: the
 *                    recovery phrase rebuilds them, and restoring needs it anyway
 *   state.db         a consistent image of the zone state, taken while the daemon runs
 *                    (its write-ahead log included: see sqlite-image.ts)
 *   apps/<app>/data  each app's data on this device
 *   apps/<app>/conflicts  the conflict copies of its data this device keeps (each a copy's
 *                    directory and its `<name>.json`): writes that reached no other
 *                    device, so in no other backup
 *   data/            the user's data
 *   ndn/             named data (files stored with `bucky put`, app packages)
 */
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import type { ZoneId } from "../../protocol/ids.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { Entry } from "./archiver.ts";
import { DEVICE_KEY_FILES, sealedDeviceKeyEntry } from "./sealed-device-key.ts";
import { sqliteImage } from "./sqlite-image.ts";

const LEFT_OUT_KEYS = new Set(["owner.key", "backup.key"]);

/**
 * What a snapshot of the home holds. `seal` gives the zone whose owner the device key is
 * sealed to; without it (to measure what a backup will read) the key is left out.
 */
export function homeEntries(
  paths: HomePaths,
  seal?: { readonly zone: ZoneId; readonly log: Log },
): Map<string, Entry> {
  const root = new Map<string, Entry>();
  root.set("identity", identityEntry(paths, seal));
  const state = statSync(paths.stateDb, { bigint: true });
  root.set("state.db", {
    kind: "bytes",
    bytes: stateImage(paths),
    mode: Number(state.mode) & 0o7777,
    mtimeNs: state.mtimeNs,
  });
  const apps = new Map<string, Entry>();
  if (existsSync(paths.appsDir)) {
    for (const app of readdirSync(paths.appsDir)) {
      const children = new Map<string, Entry>();
      for (const part of ["data", "conflicts"]) {
        const dir = join(paths.appsDir, app, part);
        if (existsSync(dir)) children.set(part, { kind: "dir", path: dir });
      }
      if (children.size > 0) apps.set(app, { kind: "virtual", children });
    }
  }
  if (apps.size > 0) root.set("apps", { kind: "virtual", children: apps });
  for (const dir of [join(paths.home, "data"), paths.ndnDir])
    if (existsSync(dir)) root.set(basename(dir), { kind: "dir", path: dir });
  return root;
}

/** `identity/`: what the home keeps there, but for the keys, and the device key sealed. */
function identityEntry(
  paths: HomePaths,
  seal: { readonly zone: ZoneId; readonly log: Log } | undefined,
): Entry {
  const children = new Map<string, Entry>();
  for (const name of readdirSync(paths.identityDir)) {
    if (LEFT_OUT_KEYS.has(name) || DEVICE_KEY_FILES.has(name) || name.startsWith(".")) continue;
    const path = join(paths.identityDir, name);
    // Not followed: a link there is no file of the home's (the archiver keeps links too).
    const stat = lstatSync(path, { bigint: true });
    if (stat.isDirectory()) children.set(name, { kind: "dir", path });
    else if (stat.isFile())
      children.set(name, {
        kind: "bytes",
        bytes: readBytes(path),
        mode: Number(stat.mode) & 0o7777,
        mtimeNs: stat.mtimeNs,
      });
  }
  if (seal) children.set(...sealedDeviceKeyEntry(paths, seal.zone, seal.log));
  return { kind: "virtual", children, mode: 0o700 };
}

function readBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw fileSystemError(error, "read", path) ?? error;
  }
}

/** The zone state as of now, whole and consistent, while the daemon keeps writing. */
function stateImage(paths: HomePaths): Uint8Array {
  const image = sqliteImage(paths.stateDb, join(paths.backupDir, "scratch"));
  if (!image)
    throw new BuckyError(
      "E_INTEGRITY",
      `the state database ${paths.stateDb} cannot be read`,
      "Run `bucky status` to see what is wrong with it.",
    );
  return image;
}
