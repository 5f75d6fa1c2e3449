/**
 * Making a new node home, for `bucky init` and `bucky join` alike. Everything is built
 * beside its final place and the home becomes a zone by one rename, `state.db.partial`
 * → `state.db`: a home without state.db has no zone, whatever else it holds, and the
 * leftovers of an interrupted attempt are removed by the next one.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
} from "node:fs";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError, sqliteError } from "../errors.ts";
import { type HomePaths, homePaths } from "../home.ts";
import { type KeyKind, writeKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { countFromStart } from "../ndn/collect.ts";
import { type DaemonLock, takeDaemonLock } from "../node/daemon-lock.ts";
import type { StateSeal } from "../state/seal.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { type HomeContents, initLeftovers, inspectHome } from "./home-contents.ts";

/** Durable steps of making a home, reported as each one completes. */
export type HomeStep =
  | "home-ready"
  /** `bucky join` only: the zone admitted this device (it lists it from now on). */
  | "admitted"
  | "keys-written"
  | "database-built"
  | "committed";

export interface Staging {
  readonly paths: HomePaths;
  readonly onStep: (step: HomeStep) => void;
}

/**
 * Runs `stage` to fill a new home, then commits it. Refuses a home that already has a
 * zone or holds files that are not bucky's; on failure removes what it made.
 */
export async function buildHome<T>(
  home: string,
  log: Log,
  stage: (staging: Staging) => T | Promise<T>,
  onStep: (step: HomeStep) => void = () => {},
): Promise<T> {
  const paths = homePaths(home);
  refuseUnfit(paths, inspectHome(paths));
  const existed = existsSync(paths.home);
  try {
    mkdirSync(paths.home, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw fileSystemError(error, "write to", paths.home) ?? error;
  }
  // One run at a time makes a home (two `bucky up` at once from two scripts), and no
  // daemon runs in it meanwhile: the lock a daemon holds (lib/node/daemon-lock.ts). Without
  // it, each took the other's files for an interrupted run's and removed them, and the home
  // was left with a state.db of no node, refused for good.
  let lock: DaemonLock;
  try {
    lock = takeDaemonLock(paths.home);
  } catch (error) {
    if (!(error instanceof BuckyError && error.code === "E_EXISTS"))
      throw sqliteError(error, `the lock of ${paths.home}`) ?? error;
    throw new BuckyError(
      "E_EXISTS",
      `${paths.home} is being made by another bucky init or join, or has a daemon running; nothing was changed`,
      `Wait for it, then see it with \`bucky status --home ${paths.home}\`.`,
    );
  }
  try {
    // Again, under the lock: another run may have made the zone meanwhile.
    const contents = inspectHome(paths);
    refuseUnfit(paths, contents);
    if (contents === "interrupted") {
      removeLeftovers(paths);
      log.warn("removed the leftovers of an interrupted init or join", { home: paths.home });
    }
    return await buildLocked(paths, log, stage, onStep, existed);
  } finally {
    lock.release();
  }
}

function refuseUnfit(paths: HomePaths, contents: HomeContents): void {
  if (contents === "zone") {
    throw new BuckyError(
      "E_EXISTS",
      `${paths.home} already has a zone; nothing was changed`,
      `See it with \`bucky status --home ${paths.home}\`. For another zone or device, use another --home.`,
    );
  }
  if (contents === "foreign") {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${paths.home} is not empty and is not a bucky home; nothing was changed`,
      "Choose an empty or new directory with --home (or BUCKY_HOME).",
    );
  }
}

async function buildLocked<T>(
  paths: HomePaths,
  log: Log,
  stage: (staging: Staging) => T | Promise<T>,
  onStep: (step: HomeStep) => void,
  /** Whether the home's directory was there before: one this run made goes on failure. */
  existed: boolean,
): Promise<T> {
  let result: T;
  try {
    onStep("home-ready");
    result = await stage({ paths, onStep });
  } catch (error) {
    // Best effort: the error to report is the one that stopped us, not a cleanup's.
    try {
      removeLeftovers(paths);
      // A pending join stays, so that the same `bucky join` run again resumes.
      if (!existed && !existsSync(paths.joinPending)) rmSync(paths.home, { recursive: true });
    } catch (cleanupError) {
      log.warn("could not remove a partial home", {
        home: paths.home,
        error: String(cleanupError),
      });
    }
    throw (
      fileSystemError(error, "write to", paths.home) ??
      sqliteError(error, `the state database ${paths.stateDbStaging}`) ??
      error
    );
  }
  // The commit. From here on the zone exists, so nothing is cleaned up on failure.
  renameSync(paths.stateDbStaging, paths.stateDb);
  // Joined: nothing is left to resume.
  rmSync(paths.joinPending, { force: true });
  fsyncDirectory(paths.home);
  onStep("committed");
  log.attachFile(paths.logsDir);
  return result;
}

/** Writes the home's key files (mode 0600 in a 0700 directory). */
export function writeIdentity(
  staging: Staging,
  keys: Partial<Record<Exclude<KeyKind, "publisher">, Uint8Array>>,
): void {
  mkdirSync(staging.paths.identityDir, { mode: 0o700 });
  chmodSync(staging.paths.identityDir, 0o700);
  for (const [kind, secret] of Object.entries(keys)) {
    const path = {
      owner: staging.paths.ownerKey,
      device: staging.paths.deviceKey,
      backup: staging.paths.backupKey,
    }[kind as Exclude<KeyKind, "publisher">];
    writeKeyFile(path, kind as KeyKind, secret);
  }
  staging.onStep("keys-written");
}

/**
 * Creates the staged state database with this node's own record, and seals it (empty). A
 * new home's named data is counted from the start (countFromStart), as of `nowMs`.
 */
export function createStagedDb(
  staging: Staging,
  self: { zone: ZoneId; id: DeviceId; name: string; seal: StateSeal },
  nowMs: number,
): StateDb {
  const db = openStateDb(staging.paths.stateDbStaging, { create: true });
  db.transaction(() => {
    db.insert(node)
      .values({ id: 1, zoneId: self.zone, deviceId: self.id, deviceName: self.name })
      .run();
    countFromStart(db, nowMs);
    self.seal.init(db.$client);
  });
  return db;
}

/**
 * Closes the staged database, its WAL folded into the file, and makes it durable. The fold
 * is asked for itself: the one close() does ignores a failure (no room left to grow the
 * file), and the WAL, left beside `state.db.partial`, would not follow it in the rename:
 * the zone would be committed as a database that does not open.
 */
export function finishStagedDb(staging: Staging, db: StateDb): void {
  // Prepared apart and finalized: a statement left open keeps the connection from closing
  // whole, and the log and shared-memory files of state.db.partial stay behind.
  const fold = db.$client.prepare<{ busy: number; log: number; checkpointed: number }, []>(
    "PRAGMA wal_checkpoint(TRUNCATE)",
  );
  try {
    const folded = fold.get();
    if (folded?.busy !== 0 || folded.log !== folded.checkpointed)
      throw foldFailed(staging.paths.stateDbStaging);
  } finally {
    fold.finalize();
    db.$client.close(true);
  }
  for (const suffix of ["-wal", "-shm"])
    if (existsSync(staging.paths.stateDbStaging + suffix))
      throw foldFailed(staging.paths.stateDbStaging);
  const fd = openSync(staging.paths.stateDbStaging, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  staging.onStep("database-built");
}

function removeLeftovers(paths: HomePaths): void {
  for (const path of initLeftovers(paths)) {
    if (existsSync(path)) rmSync(path, { recursive: true });
  }
}

function foldFailed(path: string): BuckyError {
  return new BuckyError(
    "E_IO",
    `cannot fold the log of ${path} into it`,
    "Free some space and run the command again.",
  );
}
