/**
 * What a snapshot of a home holds, as the archiver's root:
 *
 *   identity/        the device key (the owner and backup keys are left out: the
 *                    recovery phrase rebuilds them, and restoring needs it anyway)
 *   state.db         a consistent image of the zone state, taken while the daemon runs
 *                    (its write-ahead log included: see sqlite-image.ts)
 *   apps/<app>/data  each app's data on this device
 *   apps/<app>/conflicts  the conflict copies of its data this device keeps (each a copy's
 *                    directory and its `<name>.json`): writes that reached no other
 *                    device, so in no other backup
 *   data/            the user's data
 *   ndn/             named data (files stored with `bucky put`, app packages)
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Entry } from "./archiver.ts";
import { sqliteImage } from "./sqlite-image.ts";

const LEFT_OUT_KEYS = new Set(["owner.key", "backup.key"]);

export function homeEntries(paths: HomePaths): Map<string, Entry> {
  const root = new Map<string, Entry>();
  root.set("identity", {
    kind: "dir",
    path: paths.identityDir,
    skip: (name) => LEFT_OUT_KEYS.has(name) || name.startsWith("."),
  });
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
