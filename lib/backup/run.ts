/**
 * The backup operations on a home, as the commands and the daemon's schedule run them:
 * each opens the target (itself, or through the device that reaches it), takes what it
 * needs of the home, and records what happened in `<home>/backup/status.json`.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import type { Snapshot } from "../../protocol/backup/formats.ts";
import { checkSnapshotSignature, signSnapshot } from "../../protocol/backup/snapshot-signature.ts";
import type { Op } from "../../protocol/changeset.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { loadMembership } from "../sync/membership.ts";
import { openZone } from "../zone/open.ts";
import { type ArchiveProgress, Archiver } from "./archiver.ts";
import type { Backend } from "./backend.ts";
import { openBackend, type PeerReach, withHomePeers } from "./connect.ts";
import { DAMAGE_RECORD_WRITE, handledDamageOps, readDamageRecord } from "./damage-records.ts";
import { forgetDamagedBlobs, readDamagedBlobs } from "./damaged-blobs.ts";
import { FileCache } from "./file-cache.ts";
import { type HomeKeyring, homeKeyring } from "./home-keyring.ts";
import { homeEntries } from "./home-sources.ts";
import { indexSigner } from "./index-trust.ts";
import { checkingDeletes, type HeldLock, takeExclusiveLock, takeSharedLock } from "./lock.ts";
import { type BackupRoots, type IndexSigner, type OpenOptions, Repository } from "./repository.ts";
import { holdBackupRun } from "./run-lock.ts";
import { checkSnapshot, type SnapshotJudge, type SnapshotTrust } from "./snapshot-trust.ts";
import { updateTargetStatus } from "./status.ts";
import { writeZoneState } from "./target-records.ts";
import { cacheDir } from "./targets.ts";
import { chooseTarget, homeTargets, type ResolvedTarget } from "./zone-targets.ts";

export interface BackupRunResult {
  readonly snapshot: string;
  readonly target: string;
  /** The device the target was reached through; null when this device reaches it. */
  readonly via: string | null;
  readonly files: number;
  readonly bytes: number;
  /** Plaintext bytes that were new to the repository. */
  readonly addedBytes: number;
  /** Bytes of the files read anew: changed since this device's backup before. */
  readonly changedBytes: number;
  /** Bytes written to the target (sealed, compressed). */
  readonly storedBytes: number;
  readonly durationMs: number;
  /** How long after this device's backup before this one started; null for a first. */
  readonly sinceMs: number | null;
  /** Files that kept changing while they were read (backed up as last read). */
  readonly changing: readonly string[];
  /** Entries not backed up: their names are not UTF-8 (ArchiveResult.leftOut). */
  readonly leftOut: readonly string[];
}

export const NO_BACKUP_KEY_HINT =
  "Give this device the key with `bucky backup key` (it asks for the recovery phrase), or back up from the device where the zone was created.";

/** The backup root of this home: only a device that holds it can back up or restore. */
export function backupRoot(paths: HomePaths, log: Log): Uint8Array {
  try {
    return readKeyFile(paths.backupKey, "backup", log);
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_NOT_FOUND") {
      throw new BuckyError(
        "E_PERMISSION",
        "this device does not hold the backup key",
        NO_BACKUP_KEY_HINT,
      );
    }
    throw error;
  }
}

/**
 * How `withRepository` holds the repository while it works: `shared` for work that adds
 * files (a backup), `read` for work that only reads (a verify, a restore: it goes on
 * without a lock where the target takes no writes, full or read-only, so a full or
 * write-protected disk still restores), `exclusive` for a prune.
 */
export type LockKind = {
  readonly kind: "shared" | "read" | "exclusive";
  readonly purpose: string;
};

/**
 * Connects to a target (directly, or through its via device) and runs `work` with its
 * repository; always disconnects. With `lock`, work runs holding a shared or the
 * exclusive lock, and the index is read once it is held.
 */
export async function withRepository<T>(
  paths: HomePaths,
  target: ResolvedTarget,
  log: Log,
  /** `backend`: the one the repository works through (for a prune, checking its deletes). */
  work: (
    repository: Repository,
    backend: Backend,
    lock: HeldLock | undefined,
    keyring: HomeKeyring,
  ) => Promise<T>,
  options: {
    create?: boolean;
    withIndex?: boolean;
    lock?: LockKind;
    /** How to call the via device, where one is already at hand (the daemon's). */
    reach?: PeerReach;
    now?: () => number;
    /** Signs the index files written (homeSigner); without, they are unsigned. */
    signer?: IndexSigner;
    /** The zone to check the index files read against (homeJudge). */
    judge?: SnapshotJudge;
  } = {},
): Promise<T> {
  const root = backupRoot(paths, log);
  if (target.route.kind === "through" && !options.reach)
    return withHomePeers(paths, log, options.now ?? Date.now, (reach) =>
      withRepository(paths, target, log, work, { ...options, reach }),
    );
  const backend = await openBackend(target, options.reach, { create: options.create === true });
  try {
    const open = {
      cacheDir: cacheDir(paths),
      withIndex: false,
      ...(options.signer ? { signer: options.signer } : {}),
    };
    // A prune's deletes each check first that it still holds the repository.
    let lock: HeldLock | undefined;
    const through =
      options.lock?.kind === "exclusive" ? checkingDeletes(backend, () => lock) : backend;
    // Work that seals anything does so under the zone's newest key epoch, filed on the
    // target first; reading, every epoch this home opens serves.
    const sealing =
      options.create === true || (options.lock !== undefined && options.lock.kind !== "read");
    const keyring = await homeKeyring(paths, root, backend, log, { sealing });
    const repository = options.create
      ? await Repository.openOrCreate(through, keyring.roots, open)
      : await openExisting(through, keyring.roots, open, target);
    if (sealing) await keyring.fileOnTarget();
    lock = options.lock ? await takeLock(backend, options.lock, log, options.now) : undefined;
    try {
      if (options.withIndex !== false) await repository.loadIndex(options.judge);
      return await work(repository, through, lock, keyring);
    } catch (error) {
      // A hold taken away (a prune meanwhile) is what went wrong, whatever failed after.
      await lock?.check();
      throw error;
    } finally {
      repository.close();
      await lock?.release();
    }
  } finally {
    if (backend.leftOutNames)
      log.warn("names the target listed that are no file's were left out", {
        target: target.name,
        count: backend.leftOutNames,
      });
    await backend.close();
  }
}

function takeLock(
  backend: Backend,
  lock: LockKind,
  log: Log,
  now: (() => number) | undefined,
): Promise<HeldLock> {
  if (lock.kind === "exclusive")
    return takeExclusiveLock(backend, lock.purpose, now ? { now } : {});
  return takeSharedLock(backend, lock.purpose, {
    ...(now ? { now } : {}),
    onWait: (holder) => log.info("waiting for the repository", { holder }),
    ...(lock.kind === "read"
      ? {
          onUnwritable: (error: BuckyError) =>
            log.warn("the target takes no writes: reading it without a lock", {
              purpose: lock.purpose,
              why: error.message,
            }),
        }
      : {}),
  });
}

/**
 * A target's repository, which `bucky backup target add` made. Never made again here: a
 * disk that is not mounted leaves its empty mount point behind, and backups made there
 * would fill the system's disk while the owner thinks them safe elsewhere.
 */
async function openExisting(
  backend: Backend,
  root: BackupRoots,
  options: OpenOptions,
  target: ResolvedTarget,
): Promise<Repository> {
  try {
    return await Repository.open(backend, root, options);
  } catch (error) {
    if (!(error instanceof BuckyError && error.code === "E_NOT_FOUND")) throw error;
    throw new BuckyError(
      "E_UNAVAILABLE",
      `the backups of target ${target.name} are not at ${target.url} any more: is its disk plugged in and mounted?`,
      "Backups go on by themselves once it is back. To start a new repository there instead, remove the target and add it again.",
    );
  }
}

export async function runBackup(options: {
  readonly paths: HomePaths;
  readonly target?: string;
  readonly log: Log;
  readonly now: () => number;
  readonly onProgress?: (progress: Readonly<ArchiveProgress>) => void;
}): Promise<BackupRunResult> {
  const { paths, log } = options;
  // Without the key there is nothing to do whatever the targets: say that first.
  backupRoot(paths, log);
  const target = chooseTarget(homeTargets(paths, log), options.target);
  // One at a time: waits for the one running (or is refused) before anything is read, and
  // a refusal is not recorded as a failure of the target (that run records its own).
  const run = await holdBackupRun(paths, target.name, options.now, {
    onWait: (holder) =>
      log.info("waiting for the backup of this device running", {
        target: target.name,
        pid: holder.pid,
        since: holder.startedAt,
      }),
  });
  try {
    // Started once it holds the run: a run that waited covers what changed meanwhile.
    return await backUp(options, target, options.now());
  } finally {
    run.release();
  }
}

async function backUp(
  options: Parameters<typeof runBackup>[0],
  target: ResolvedTarget,
  startedAt: number,
): Promise<BackupRunResult> {
  const { paths, log } = options;
  const zone = openZone(paths.home, log);
  const who = {
    zone: zone.zone.id,
    device: zone.device.name,
    key: zone.deviceKey,
    document: zone.device.jws,
  };
  // What a verify on any device found damaged of this device's data: only this device
  // can store it again.
  const recorded = readDamageRecord(zone.db, target.name, who.device)?.blobs ?? [];
  zone.close();
  try {
    const result = await withRepository(
      paths,
      target,
      log,
      async (repository, _backend, lock, keyring) => {
        const cache = new FileCache(join(cacheDir(paths), repository.id), {
          job: `backup of this device to ${target.name}`,
          startedAt: new Date(startedAt).toISOString(),
        });
        // What a verify here found damaged is read again before it is taken as stored,
        // and stored again where it opens nowhere.
        const damaged = [...new Set([...readDamagedBlobs(paths, repository.id), ...recorded])];
        repository.distrust(damaged);
        try {
          // Each device's snapshots are a history of their own: the parent is this
          // device's previous one, whatever the other devices did since (or filed in its
          // name: only one it signed itself; an unsigned one, an older bucky's, only while
          // it has signed none, as any holder of the key can file one).
          const me = deviceIdFromPublicKey(who.key.publicKey);
          const mine = (await repository.snapshots()).filter(
            (s) => s.snapshot.device === who.device,
          );
          const kinds = new Map(
            mine.map((s) => [s.name, checkSnapshotSignature(s.name, s.snapshot, who.zone)]),
          );
          const signed = mine.filter((s) => {
            const signature = kinds.get(s.name);
            return signature?.kind === "signed" && signature.by === me;
          });
          const previous = (
            signed.length > 0 ? signed : mine.filter((s) => kinds.get(s.name)?.kind === "unsigned")
          ).at(-1);
          const archived = await new Archiver(repository, cache, options.onProgress).archive(
            homeEntries(paths, { zone: who.zone, log }),
          );
          const durationMs = options.now() - startedAt;
          const snapshot: Snapshot = {
            version: 1,
            time: new Date(startedAt).toISOString(),
            zone: who.zone,
            device: who.device,
            hostname: hostname(),
            tree: archived.tree,
            parent: previous?.name ?? null,
            stats: {
              files: archived.files,
              bytes: archived.bytes,
              addedBytes: archived.addedBytes,
              durationMs,
            },
          };
          // Its data is all written (archive flushed it): still there, unless a prune took
          // the repository meanwhile.
          await lock?.check();
          // Before the snapshot is filed: a run that cannot record what it read (another
          // backup of this home paused as it records its own) says so, and files none.
          cache.hold();
          // Signed by this device: no other holder of the backup key can speak for it.
          const name = await repository.writeSnapshot(
            (named) => ({
              ...snapshot,
              signed: signSnapshot(named, snapshot, who.key, who.document),
            }),
            // Its keys beside it first: a snapshot that is there opens from the phrase,
            // whatever became of keys/.
            (named) => keyring.fileBesideSnapshot(named),
          );
          cache.commit();
          forgetDamagedBlobs(paths, repository.id, damaged);
          return {
            snapshot: name,
            target: target.name,
            via: target.route.kind === "through" ? target.route.via : null,
            files: archived.files,
            bytes: archived.bytes,
            addedBytes: archived.addedBytes,
            changedBytes: archived.changedBytes,
            storedBytes: repository.storedBytes,
            durationMs,
            sinceMs: previous ? startedAt - Date.parse(previous.snapshot.time) : null,
            changing: archived.changing,
            leftOut: archived.leftOut,
          };
        } finally {
          cache.close();
        }
      },
      {
        lock: { kind: "shared", purpose: "backup" },
        now: options.now,
        // Its index files signed: no other holder of the backup key can speak for them.
        signer: indexSigner(who),
        judge: homeJudge(paths, log),
      },
    );
    if (recorded.length > 0)
      await clearRecordedDamage(paths, target.name, recorded, log, options.now).catch(
        (error: unknown) => {
          // The snapshot is filed: the record stays, and the next backup takes it off.
          if (!(error instanceof BuckyError)) throw error;
          log.warn("backup damage stored again, but its record stays", { why: error.message });
        },
      );
    updateTargetStatus(paths, target.name, (status) => ({
      ...status,
      lastBackup: {
        at: new Date(startedAt).toISOString(),
        snapshot: result.snapshot,
        durationMs: result.durationMs,
        changedBytes: result.changedBytes,
        storedBytes: result.storedBytes,
        // Counts only: the names are an app's own words, and the zone shows what this says.
        changing: result.changing.length,
        leftOut: result.leftOut.length,
        ...(result.sinceMs !== null ? { sinceMs: Math.max(0, result.sinceMs) } : {}),
      },
    }));
    log.info("backup done", {
      target: target.name,
      snapshot: result.snapshot.slice(0, 8),
      files: result.files,
      bytes: result.bytes,
      added: result.addedBytes,
      changed: result.changedBytes,
      ms: result.durationMs,
      ...(result.via ? { via: result.via } : {}),
    });
    if (result.changing.length > 0)
      log.warn("files changed while being backed up", {
        count: result.changing.length,
        first: result.changing[0],
      });
    if (result.leftOut.length > 0)
      log.warn("files not backed up: their names are not UTF-8", {
        count: result.leftOut.length,
        first: result.leftOut[0],
      });
    return result;
  } catch (error) {
    updateTargetStatus(paths, target.name, (status) => ({
      ...status,
      lastBackupError: {
        at: new Date(options.now()).toISOString(),
        message: (error as Error).message,
      },
    }));
    throw error;
  }
}

/**
 * Takes off this device's damage record what its backup just handled: stored again, or of
 * data it no longer holds (which no device can store again). What a verify added since stays.
 */
async function clearRecordedDamage(
  paths: HomePaths,
  target: string,
  handled: readonly string[],
  log: Log,
  now: () => number,
): Promise<void> {
  const zone = openZone(paths.home, log);
  let ops: Op[];
  try {
    ops = handledDamageOps(
      zone.db,
      target,
      zone.device.name,
      handled,
      new Date(now()).toISOString(),
    );
  } finally {
    zone.close();
  }
  if (ops.length === 0) return;
  await writeZoneState(paths, ops, log, now, DAMAGE_RECORD_WRITE);
  log.info("backup damage stored again", { target, blobs: handled.length });
}

export interface SnapshotSummary {
  readonly id: string;
  readonly time: string;
  readonly device: string;
  readonly files: number;
  readonly bytes: number;
  readonly addedBytes: number;
  /** The device whose key signed it (its name in the zone, else its id); null if none did. */
  readonly signedBy: string | null;
  /** What its check against the zone's devices found (lib/backup/snapshot-trust.ts). */
  readonly trust: SnapshotTrust;
  /** Why it is not trusted, in words; "" when it is. */
  readonly why: string;
}

/**
 * The snapshots in a target, oldest first, of one device or all (`backup list`, the panel),
 * each checked against the zone's devices as this home knows them.
 */
export async function listSnapshots(
  paths: HomePaths,
  which: string | undefined,
  log: Log,
  options: { device?: string; reach?: PeerReach } = {},
): Promise<SnapshotSummary[]> {
  const target = chooseTarget(homeTargets(paths, log), which);
  const snapshots = await withRepository(
    paths,
    target,
    log,
    (repository) => repository.snapshots(),
    { withIndex: false, ...(options.reach ? { reach: options.reach } : {}) },
  );
  const judge = homeJudge(paths, log);
  return snapshots
    .filter(({ snapshot }) => options.device === undefined || snapshot.device === options.device)
    .map((entry) => ({
      id: entry.name,
      time: entry.snapshot.time,
      device: entry.snapshot.device,
      files: entry.snapshot.stats.files,
      bytes: entry.snapshot.stats.bytes,
      addedBytes: entry.snapshot.stats.addedBytes,
      ...checkSnapshot(entry, judge),
    }));
}

/** This home's device, to sign the index files it writes: its key and owner-signed document. */
export function homeSigner(paths: HomePaths, log: Log): IndexSigner {
  const zone = openZone(paths.home, log);
  try {
    return indexSigner({ zone: zone.zone.id, key: zone.deviceKey, document: zone.device.jws });
  } finally {
    zone.close();
  }
}

/** The zone as this home knows it, to check snapshots against: its id and its devices. */
export function homeJudge(paths: HomePaths, log: Log): SnapshotJudge {
  const zone = openZone(paths.home, log);
  try {
    return { zone: zone.zone.id, membership: loadMembership(zone.db, zone.zone.id, zone.devices) };
  } finally {
    zone.close();
  }
}
