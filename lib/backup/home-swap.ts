/**
 * Putting a restored home in place of the one there. Nothing the home held is deleted:
 * each part the restore replaces (data/, ndn/, replicas/, an app's data, the zone state
 * with its WAL) is moved aside by a rename into `<home>/.replaced-<time>/`, never copied,
 * so a restore cut off part way loses none of it and running it again finishes the swap.
 * What was set aside is kept, and said, when it holds any file of the home's data (a
 * home rolled back to an older snapshot keeps what it had since); on a box just
 * recovered, with nothing yet of its own, it is removed.
 */
import {
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDirectory, writeFileAtomic } from "../atomic-file.ts";
import { entriesUnder } from "../disk/tree.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { forgetHotShipped } from "./hot-shipped.ts";

/** Where a home restore sets aside what it replaced: `<home>/.replaced-<time>`. */
export const REPLACED_PREFIX = ".replaced-";

/** The parts of a home that hold its data, judged when deciding to keep what was set aside. */
const DATA_PARTS = ["data", "ndn", "replicas", "apps"];

/**
 * Swaps the restored home in `staging` into `paths.home`, the zone state last (after its
 * old WAL files are set aside, so SQLite never mixes the two). Returns the directory that
 * keeps what was replaced, or null when it held none of the home's data.
 */
export function swapIntoHome(staging: string, paths: HomePaths, nowMs: number): string | null {
  const aside = join(
    paths.home,
    `${REPLACED_PREFIX}${new Date(nowMs).toISOString().replaceAll(":", "-")}`,
  );
  const setAside = (part: string) => {
    const from = join(paths.home, part);
    if (!existsSync(from)) return;
    mkdirSync(dirname(join(aside, part)), { recursive: true, mode: 0o700 });
    renameSync(from, join(aside, part));
  };
  // The keys each by an atomic write: copied over in place, a kill half way left the device
  // key cut short, and it cannot be made again. (They are the device's own, restored.)
  const identity = join(staging, "identity");
  if (existsSync(identity)) {
    mkdirSync(paths.identityDir, { recursive: true, mode: 0o700 });
    for (const entry of readdirSync(identity, { withFileTypes: true })) {
      const from = join(identity, entry.name);
      const to = join(paths.identityDir, entry.name);
      if (entry.isFile()) writeFileAtomic(to, readFileSync(from), 0o600);
      else cpSync(from, to, { recursive: true, force: true, preserveTimestamps: true });
    }
  }
  // replicas/: the copies of apps held by other devices (keepHeldElsewhereAsCopies).
  for (const dir of ["data", "ndn", "replicas"]) {
    const from = join(staging, dir);
    if (!existsSync(from)) continue;
    setAside(dir);
    renameSync(from, join(paths.home, dir));
  }
  const apps = join(staging, "apps");
  if (existsSync(apps)) {
    for (const app of readdirSync(apps)) {
      // The restored data replaces the home's; conflict copies join those it keeps.
      const data = join(apps, app, "data");
      if (existsSync(data)) {
        setAside(join("apps", app, "data"));
        mkdirSync(join(paths.appsDir, app), { recursive: true });
        renameSync(data, join(paths.appsDir, app, "data"));
      }
      cpSync(join(apps, app), join(paths.appsDir, app), {
        recursive: true,
        force: true,
        preserveTimestamps: true,
      });
    }
  }
  const state = join(staging, "state.db");
  if (!existsSync(state)) throw new BuckyError("E_INTEGRITY", "the snapshot holds no zone state");
  // The old state kept whole beside its WAL: linked, so the home is never without one.
  if (existsSync(paths.stateDb)) {
    mkdirSync(aside, { recursive: true, mode: 0o700 });
    linkSync(paths.stateDb, join(aside, "state.db"));
  }
  for (const suffix of ["-wal", "-shm"]) setAside(`state.db${suffix}`);
  // What was restored is on the disk before the zone state that names it is put in place:
  // renamed in unsynced, a power cut after "restored" could leave the data, named files and
  // apps' data empty beside a zone state that says they are there.
  syncFileSystem(paths.home);
  forgetHotShipped(paths);
  renameSync(state, paths.stateDb);
  fsyncDirectory(paths.home);
  if (!existsSync(aside)) return null;
  // A file or a link anywhere under one of the parts set aside (links never followed).
  if (DATA_PARTS.some((part) => !entriesUnder(join(aside, part)).next().done)) return aside;
  rmSync(aside, { recursive: true, force: true });
  return null;
}

/**
 * Flushes the file system that holds `path` (syncfs(2), by coreutils' `sync`: one call for
 * every file restored, where an fsync each took a disk's round trip per file).
 */
function syncFileSystem(path: string): void {
  let why: string | undefined;
  try {
    const synced = Bun.spawnSync([Bun.which("sync") ?? "/bin/sync", "-f", path], {
      stderr: "pipe",
    });
    if (synced.exitCode !== 0) why = synced.stderr.toString().trim() || "sync failed";
  } catch (error) {
    why = (error as Error).message;
  }
  if (why !== undefined)
    throw new BuckyError(
      "E_IO",
      `cannot make what was restored durable: ${why}`,
      "Check the disk, then run the restore again.",
    );
}
