/**
 * `bucky backup restore`: a snapshot (or a path in it) into a directory, or, with no
 * directory, back into the home: the disaster-recovery path. After `bucky init --recover`
 * rebuilt the keys from the phrase, this brings back the device key, the zone state (and
 * replays the changesets shipped hot since the snapshot), the apps' data, the user's data
 * and the named data; `bucky daemon` then runs the apps again.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, readdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { parseZoneId, type ZoneId } from "../../protocol/ids.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { daemonAnswers } from "../node/daemon-client.ts";
import { ingestEntries } from "../sync/ingest.ts";
import { openZone } from "../zone/open.ts";
import { hotChangesets } from "./hot.ts";
import { type RestoreProgress, restoreTree } from "./restorer.ts";
import { withRepository } from "./run.ts";
import { chooseTarget } from "./targets.ts";

export interface RestoreCommandResult {
  readonly snapshot: string;
  readonly time: string;
  readonly to: string;
  readonly files: number;
  readonly bytes: number;
  /** Hot changesets replayed on top of the snapshot's zone state (home restores). */
  readonly replayedChangesets: number;
  readonly damaged: readonly string[];
}

export async function restoreSnapshot(options: {
  readonly paths: HomePaths;
  readonly snapshot: string;
  readonly from?: string;
  readonly identityFile?: string;
  readonly to?: string;
  readonly path?: string;
  readonly force: boolean;
  readonly log: Log;
  readonly now: () => number;
  readonly onProgress?: (progress: Readonly<RestoreProgress>) => void;
}): Promise<RestoreCommandResult> {
  const { paths, log } = options;
  const target = chooseTarget(paths, options.from, options.identityFile);
  if (options.to && !options.force && !isEmptyDir(options.to)) {
    throw new BuckyError(
      "E_EXISTS",
      `${options.to} is not empty; nothing was restored`,
      "Restore into an empty or new directory, or add --force to write over what is there.",
    );
  }
  if (!options.to) await refuseRunningDaemon(paths);
  return withRepository(
    paths,
    target,
    log,
    async (repository) => {
      const { name, snapshot } = await repository.findSnapshot(options.snapshot);
      const progress = options.onProgress ? { onProgress: options.onProgress } : {};
      if (options.to) {
        const result = await restoreTree(repository, snapshot.tree, options.to, {
          ...(options.path ? { path: options.path } : {}),
          ...progress,
        });
        log.info("restored", { snapshot: name.slice(0, 8), to: options.to, files: result.files });
        return {
          snapshot: name,
          time: snapshot.time,
          to: options.to,
          ...result,
          replayedChangesets: 0,
        };
      }
      const zoneId = homeZone(paths, log) ?? parseZoneId(snapshot.zone);
      if (!zoneId)
        throw new BuckyError("E_INTEGRITY", `snapshot ${name.slice(0, 8)} names no valid zone`);
      if (snapshot.zone !== zoneId) {
        throw new BuckyError(
          "E_INVALID_INPUT",
          `snapshot ${name.slice(0, 8)} is of zone ${snapshot.zone}, not of this home's zone ${zoneId}`,
        );
      }
      removeStaleStaging(paths);
      const staging = join(paths.home, `${STAGING_PREFIX}${randomBytes(4).toString("hex")}`);
      try {
        const result = await restoreTree(repository, snapshot.tree, staging, progress);
        if (result.damaged.length > 0) {
          throw new BuckyError(
            "E_INTEGRITY",
            `snapshot ${name.slice(0, 8)} is damaged (${result.damaged.length} files); the home was left as it was`,
            "Run `bucky backup verify --read-data`, and restore an older snapshot.",
          );
        }
        moveIntoHome(staging, paths);
        const replayed = replayHot(paths, await hotChangesets(repository), log, options.now);
        log.info("home restored", { snapshot: name.slice(0, 8), files: result.files, replayed });
        return {
          snapshot: name,
          time: snapshot.time,
          to: paths.home,
          files: result.files,
          bytes: result.bytes,
          replayedChangesets: replayed,
          damaged: [],
        };
      } finally {
        rmSync(staging, { recursive: true, force: true });
      }
    },
    { lock: "restore" },
  );
}

const STAGING_PREFIX = ".restore-";

/**
 * What a restore into this home killed half way left there. (The home's daemon is
 * stopped, and one home is restored by one command at a time.)
 */
function removeStaleStaging(paths: HomePaths): void {
  for (const name of readdirSync(paths.home))
    if (name.startsWith(STAGING_PREFIX))
      rmSync(join(paths.home, name), { recursive: true, force: true });
}

/**
 * Puts the restored pieces in place: each replaces what the home had (the zone state
 * last, by rename, after its old WAL files are gone, so SQLite never mixes the two).
 */
function moveIntoHome(staging: string, paths: HomePaths): void {
  const identity = join(staging, "identity");
  if (existsSync(identity))
    cpSync(identity, paths.identityDir, { recursive: true, force: true, preserveTimestamps: true });
  for (const dir of ["data", "ndn"]) {
    const from = join(staging, dir);
    if (!existsSync(from)) continue;
    rmSync(join(paths.home, dir), { recursive: true, force: true });
    renameSync(from, join(paths.home, dir));
  }
  const apps = join(staging, "apps");
  if (existsSync(apps)) {
    for (const app of readdirSync(apps)) {
      const data = join(paths.appsDir, app, "data");
      rmSync(data, { recursive: true, force: true });
      cpSync(join(apps, app), join(paths.appsDir, app), {
        recursive: true,
        force: true,
        preserveTimestamps: true,
      });
    }
  }
  const state = join(staging, "state.db");
  if (!existsSync(state)) throw new BuckyError("E_INTEGRITY", "the snapshot holds no zone state");
  for (const suffix of ["-wal", "-shm"]) rmSync(paths.stateDb + suffix, { force: true });
  renameSync(state, paths.stateDb);
  fsyncDirectory(paths.home);
}

/**
 * Applies the hot changesets the restored state lacks; returns how many it took. The
 * restored zone is opened (and so checked against its seal) first.
 */
function replayHot(
  paths: HomePaths,
  changesets: readonly Uint8Array[],
  log: Log,
  now: () => number,
): number {
  if (changesets.length === 0) return 0;
  const zone = openZone(paths.home, log);
  try {
    const result = ingestEntries(zone.db, changesets, {
      zone: zone.zone.id,
      nowMs: now(),
      log,
      source: "hot backup",
      seal: zone.seal,
    });
    return result.applied.length;
  } finally {
    zone.close();
  }
}

/**
 * The zone of the home being restored over, or undefined when its state database is
 * damaged (which is what a restore is for). The snapshot opened with this home's backup
 * key, which only its zone's phrase gives, so it is of this zone all the same.
 */
function homeZone(paths: HomePaths, log: Log): ZoneId | undefined {
  try {
    const zone = openZone(paths.home, log);
    zone.close();
    return zone.zone.id;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_INTEGRITY") {
      log.warn("the home's state database is damaged: the snapshot replaces it", {
        error: error.message,
      });
      return undefined;
    }
    throw error;
  }
}

async function refuseRunningDaemon(paths: HomePaths): Promise<void> {
  if (!(await daemonAnswers(paths.home))) return;
  throw new BuckyError(
    "E_UNAVAILABLE",
    "the daemon is running: the home cannot be restored under it",
    "Stop it first (Ctrl-C, or `systemctl --user stop bucky`), or restore elsewhere with --to.",
  );
}

function isEmptyDir(path: string): boolean {
  if (!existsSync(path)) return true;
  try {
    return readdirSync(path).length === 0;
  } catch {
    return false;
  }
}
