/**
 * What this device last did with each backup target, for `bucky status` and the
 * reliability level: the last backup (and how much changed since the one before, and how
 * long ago that was, so the zone can tell when writes outpace backups), the last verify,
 * and whether backups keep up. Kept in `<home>/backup/status.json`, written by each run
 * (by hand or on schedule), and published to the zone in this device's facts.
 *
 * Each writer reads the whole file and writes it back: the daemon (its scheduler, the
 * zone's targets heard of) and each backup, verify and prune, each a process of its own.
 * Two at once kept only the one that wrote last, so a change holds `status.lock` as it
 * reads and writes (lib/file-lock.ts).
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { takeFileLock } from "../file-lock.ts";
import type { HomePaths } from "../home.ts";

/**
 * How long a change waits for another to finish with the file: each holds it for the
 * milliseconds of a read and a write. The wait blocks its process (the daemon's whole
 * loop), so it is short; one held past it (its process stopped in that instant) does not
 * stop the record of a backup: it is written without the lock.
 */
const STATUS_LOCK_WAIT_MS = 5_000;

export interface TargetStatus {
  readonly lastBackup?: {
    readonly at: string;
    readonly snapshot: string;
    readonly durationMs: number;
    /** Bytes of the files read anew: changed since this device's backup before. */
    readonly changedBytes?: number;
    /** How long before this one that backup was (absent for a first backup). */
    readonly sinceMs?: number;
    /** Bytes written to the target (sealed, compressed). */
    readonly storedBytes?: number;
    /** Files that kept changing while read, backed up as last read (absent: an older bucky's run). */
    readonly changing?: number;
    /** Entries left out: their names are not UTF-8 (absent: an older bucky's run). */
    readonly leftOut?: number;
  };
  readonly lastBackupError?: { readonly at: string; readonly message: string };
  readonly lastVerify?: {
    readonly at: string;
    readonly ok: boolean;
    readonly damaged: number;
    /** Snapshots filed in a device's name by another key (absent: none, or an older bucky's verify). */
    readonly forged?: number;
    /** Index files left out as forged (absent: none, or an older bucky's verify). */
    readonly forgedIndex?: number;
  };
  readonly lastPrune?: { readonly at: string };
  /**
   * The last prune failed (when, why), and prunes have failed since `since` (the first to
   * fail after the last that did not): only the device that reaches a target prunes it, so
   * the zone hears of it only from that device's facts.
   */
  readonly lastPruneError?: {
    readonly at: string;
    readonly since: string;
    readonly message: string;
  };
  /** A scheduled backup found the previous one still running: data grows faster than it uploads. */
  readonly behindSince?: string | null;
}

export type BackupStatus = Record<string, TargetStatus>;

export function readBackupStatus(paths: HomePaths): BackupStatus {
  const file = statusFile(paths);
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as BackupStatus;
  } catch {
    return {};
  }
}

export function updateTargetStatus(
  paths: HomePaths,
  target: string,
  change: (status: TargetStatus) => TargetStatus,
): void {
  changeStatus(paths, (all) => {
    all[target] = change(all[target] ?? {});
    return true;
  });
}

function statusFile(paths: HomePaths): string {
  return join(paths.backupDir, "status.json");
}

/** Reads the file, lets `change` change it (true when it did), and writes it, holding its lock. */
function changeStatus(paths: HomePaths, change: (all: BackupStatus) => boolean): void {
  mkdirSync(paths.backupDir, { recursive: true, mode: 0o700 });
  const lock = takeFileLock(join(paths.backupDir, "status.lock"), STATUS_LOCK_WAIT_MS);
  try {
    const all = readBackupStatus(paths);
    if (change(all)) writeFileAtomic(statusFile(paths), `${JSON.stringify(all, null, 2)}\n`, 0o600);
  } finally {
    lock?.release();
  }
}

/** What a record of a target says, each dated: as this device keeps it, and as its facts say it. */
interface DatedRecords {
  readonly lastBackup?: { readonly at: string };
  readonly lastBackupError?: { readonly at: string };
  readonly lastVerify?: { readonly at: string };
  readonly lastPrune?: { readonly at: string };
  readonly behindSince?: string | null;
  /** As a device's facts say it (hot changes failing since then). */
  readonly hotFailing?: { readonly since: string };
}

/**
 * What this device recorded of a target reached through another device, of the one the
 * zone added at `addedAtMs`: what is dated before is of an earlier target of that name
 * (removed, and added again elsewhere while this device was away, or before it heard of
 * the removal), and said of this one it would be read as the zone's word that this
 * device backs up there, or that its backups there fail, when it has not tried yet. (Not
 * for the device that reaches a target: it may have backed up there before the zone
 * recorded it, and forgets what it recorded when the target is removed.)
 */
export function sinceAdded<T extends DatedRecords>(status: T, addedAtMs: number): T {
  const before = (at: string | null | undefined) =>
    typeof at === "string" && Date.parse(at) < addedAtMs;
  const { lastBackup, lastBackupError, lastVerify, lastPrune, behindSince, hotFailing, ...rest } =
    status;
  return {
    ...rest,
    ...(lastBackup && !before(lastBackup.at) ? { lastBackup } : {}),
    ...(lastBackupError && !before(lastBackupError.at) ? { lastBackupError } : {}),
    ...(lastVerify && !before(lastVerify.at) ? { lastVerify } : {}),
    ...(lastPrune && !before(lastPrune.at) ? { lastPrune } : {}),
    ...(behindSince !== undefined && !before(behindSince) ? { behindSince } : {}),
    ...(hotFailing && !before(hotFailing.since) ? { hotFailing } : {}),
  } as T;
}

/** Forgets what was recorded of the target `name` (it was removed from the zone). */
export function forgetTargetStatus(paths: HomePaths, name: string): void {
  if (!(name in readBackupStatus(paths))) return;
  changeStatus(paths, (all) => name in all && delete all[name]);
}

/** Moves what was recorded of the target `from` to its new name `to`. */
export function renameTargetStatus(paths: HomePaths, from: string, to: string): void {
  if (!(from in readBackupStatus(paths))) return;
  changeStatus(paths, (all) => {
    if (!(from in all)) return false;
    all[to] = all[from] as TargetStatus;
    return delete all[from];
  });
}
