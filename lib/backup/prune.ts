/**
 * Forgetting old snapshots and reclaiming their space. Which to keep, for each device on
 * its own (several devices back up to one repository, each with its own history): its
 * newest few, and its newest of each of the last hours, days, weeks and months; never
 * fewer than its newest. Then what no kept snapshot uses goes: packs with nothing used are
 * deleted, packs mostly unused are rewritten with what is used, and each device's hot
 * changesets that its own newest snapshot holds.
 *
 * Any holder of the backup key can write a snapshot in a device's name (a member reaching
 * the target through another device can add files, never delete one): so a device's
 * snapshots are kept by the policy in groups by what their check found
 * (lib/backup/snapshot-trust.ts), each group on its own, and newer planted snapshots never
 * push the device's own out; its hot changesets go only by its own newest signed snapshot.
 * Two groups are not kept by the policy:
 *   - forged snapshots are forgotten at once: no restore into a home takes one, nothing
 *     of the zone is in one, and kept they would keep the target unsound (verify exits 4,
 *     status warns) for good, with no way for the owner to end it; each forgotten is
 *     logged, and verify names the ones filed since;
 *   - a device's unsigned snapshots are never forgotten by the policy while it has signed
 *     none: its own from before snapshots were signed cannot be told from ones planted in
 *     its name, which would otherwise take every slot of the only history it has. Once it
 *     signs its own, its unsigned ones keep only the slots of the policy its signed ones
 *     leave (the policy run over both together): they hold its key in the clear
 *     (snapshots taken before keys were sealed), so they age out as its signed history
 *     grows; a planted one can then push an old one out early, as a key holder who
 *     reaches the target could delete it anyway.
 * (A snapshot of a device this home's state does not know yet, `unknown`, carries the
 * owner's document for its key and name, so it is kept by the policy like any other.)
 *
 * The order keeps the repository valid at every step, so an interrupted prune loses
 * nothing a kept snapshot needs: forgotten snapshot files first, then new packs, then the
 * new index (before the old index files go), and only then the packs nothing names.
 */

import { createHash } from "node:crypto";
import { type BlobLocation, decodeTree } from "../../protocol/backup/formats.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { Backend } from "./backend.ts";
import { compactTime, HOT_DIR, hotFileDevice } from "./hot.ts";
import { removeKeysOfNoSnapshot } from "./key-epochs.ts";
import { MAX_PACK_BYTES, PACK_TARGET_BYTES, packPath, type Repository } from "./repository.ts";
import { homeJudge, homeSigner, withRepository } from "./run.ts";
import { checkSnapshot, type SnapshotJudge, type SnapshotTrust } from "./snapshot-trust.ts";
import { updateTargetStatus } from "./status.ts";
import { chooseTarget, homeTargets } from "./zone-targets.ts";

export interface RetentionPolicy {
  readonly last: number;
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  last: 10,
  hourly: 24,
  daily: 7,
  weekly: 4,
  monthly: 12,
};

/** Hot files this much older than their device's newest snapshot are surely in it. */
const HOT_MARGIN_MS = 10 * 60_000;

/** A pack is rewritten when more than this share of it is unused. */
const REPACK_UNUSED_SHARE = 0.3;

export interface PruneResult {
  readonly keptSnapshots: number;
  readonly removedSnapshots: number;
  readonly removedPacks: number;
  readonly rewrittenPacks: number;
  readonly freedBytes: number;
  /**
   * Index files left out (forged, or that did not open) and deleted: every blob a kept
   * snapshot needs was found in the others. `signedBy`: the device whose key signed it.
   */
  readonly removedIndexFiles: readonly {
    readonly file: string;
    readonly problem: string;
    readonly signedBy: string | null;
  }[];
}

/**
 * The snapshots to keep (by name), each device's by the policy on its own, and among a
 * device's, those of each trust (signed, revoked, unknown…) on their own; no forged one;
 * every unsigned one of a device that has signed none yet, and of one that signs, only
 * those the policy would keep of its signed and unsigned together: they fill no slot its
 * own signed history holds, so they age out as it grows (they hold its key in the clear).
 */
export function snapshotsToKeep(
  snapshots: readonly { name: string; time: string; device: string; trust?: SnapshotTrust }[],
  policy: RetentionPolicy,
): Set<string> {
  const byDevice = new Map<string, { name: string; time: string }[]>();
  const keep = new Set<string>();
  const signing = new Set(snapshots.filter((s) => s.trust === "signed").map((s) => s.device));
  const groupOf = (device: string, trust: SnapshotTrust | undefined) => `${device}\0${trust ?? ""}`;
  for (const snapshot of snapshots) {
    if (snapshot.trust === "forged") continue;
    if (snapshot.trust === "unsigned" && !signing.has(snapshot.device)) {
      keep.add(snapshot.name);
      continue;
    }
    const group = groupOf(snapshot.device, snapshot.trust);
    const list = byDevice.get(group) ?? [];
    list.push(snapshot);
    byDevice.set(group, list);
  }
  for (const [group, list] of byDevice) {
    const [device, trust] = group.split("\0") as [string, string];
    if (trust !== "unsigned") {
      for (const name of keepOfOne(list, policy)) keep.add(name);
      continue;
    }
    const unsigned = new Set(list.map((s) => s.name));
    const together = [...list, ...(byDevice.get(groupOf(device, "signed")) ?? [])];
    for (const name of keepOfOne(together, policy)) if (unsigned.has(name)) keep.add(name);
  }
  return keep;
}

/** The snapshots of one device to keep, newest rules first; its newest always. */
function keepOfOne(
  snapshots: readonly { name: string; time: string }[],
  policy: RetentionPolicy,
): Set<string> {
  const newestFirst = [...snapshots].sort((a, b) => compareCodeUnits(b.time, a.time));
  const keep = new Set(newestFirst.slice(0, Math.max(1, policy.last)).map((s) => s.name));
  const buckets: [number, (d: Date) => string][] = [
    [policy.hourly, (d) => d.toISOString().slice(0, 13)],
    [policy.daily, (d) => d.toISOString().slice(0, 10)],
    [policy.weekly, isoWeek],
    [policy.monthly, (d) => d.toISOString().slice(0, 7)],
  ];
  for (const [count, bucketOf] of buckets) {
    const seen = new Set<string>();
    for (const snapshot of newestFirst) {
      if (seen.size >= count) break;
      // Anyone holding the backup key can file a snapshot whose time is no time: it falls
      // in no hour, day, week or month (kept only among the newest few of its kind).
      const at = new Date(snapshot.time);
      if (Number.isNaN(at.getTime())) continue;
      const bucket = bucketOf(at);
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      keep.add(snapshot.name);
    }
  }
  return keep;
}

export async function pruneRepository(
  repository: Repository,
  policy: RetentionPolicy,
  /** The zone to check snapshots and index files against; without it, only that their signatures hold. */
  judge?: SnapshotJudge,
  log?: Log,
  /** The most each index file written may be (tests make it small). */
  indexFileBytes?: number,
): Promise<PruneResult> {
  const backend = repository.backend;
  // The index read again, checked against the zone: forged files left out, and where a
  // trusted file and another name one blob, the trusted one's word taken.
  await repository.loadIndex(judge);
  const all = await repository.snapshots();
  const trust = new Map(all.map((s) => [s.name, checkSnapshot(s, judge).trust]));
  const keep = snapshotsToKeep(
    all.map((s) => ({
      name: s.name,
      time: s.snapshot.time,
      device: s.snapshot.device,
      trust: trust.get(s.name) as SnapshotTrust,
    })),
    policy,
  );
  const forgotten = all.filter((s) => !keep.has(s.name));
  const kept = all.filter((s) => keep.has(s.name));

  // Every blob a kept snapshot needs: its trees and the chunks of its files. Each at a
  // place a trusted index file gives, or read there (vouch) before the new index, signed,
  // says it: an untrusted file's word is never signed unread.
  const used = new Set<string>();
  // Those in no place: while one is, nothing is deleted.
  const nowhere = new Set<string>();
  // The trees a level at a time: those the index has no place for are looked for in the
  // index files the bound cut short, once a level (placeNeeded).
  let level = [...new Set(kept.map(({ snapshot }) => snapshot.tree))];
  while (level.length > 0) {
    for (const tree of level) used.add(tree);
    await repository.placeNeeded(level);
    const next: string[] = [];
    for (const tree of level) {
      if (!(await repository.vouch(tree))) {
        nowhere.add(tree);
        continue;
      }
      for (const node of decodeTree(await repository.readBlob(tree))) {
        if (node.type === "dir" && !used.has(node.subtree)) {
          used.add(node.subtree);
          next.push(node.subtree);
        } else if (node.type === "file") for (const id of node.content) used.add(id);
      }
    }
    level = next;
  }
  await repository.placeNeeded(used);
  // A chunk index files place more than once (stored again after a verify found it damaged,
  // or by two backups at once) is read where the index chose before that place is the one
  // kept: the new index names one place only, and the damaged copy may be the one chosen.
  // (A tree was read above, at another place where the chosen one did not open.)
  repository.distrust([...used].filter((id) => repository.otherPacksOf(id).length > 0));
  // The chunks in runs, pack by pack: an older bucky's repository has every one read.
  for (const id of await repository.vouchAll([...used].filter((id) => !nowhere.has(id))))
    nowhere.add(id);
  refuseUnreadableIndex(repository, nowhere.size);
  refuseNowhere(repository, nowhere.size);
  // The packs some index file (whatever its word) says hold a blob a kept snapshot needs,
  // other than where the index has it: none is deleted by this prune.
  const spared = new Set<string>();
  for (const id of used) for (const pack of repository.otherPacksOf(id)) spared.add(pack);
  for (const { name, snapshot } of forgotten) {
    await backend.remove(`snapshots/${name}`);
    if (trust.get(name) === "forged")
      log?.info("forged snapshot forgotten", {
        snapshot: name.slice(0, 8),
        device: snapshot.device,
      });
  }
  // The keys filed beside them go with them (keys/ and the kept snapshots' still hold each).
  await removeKeysOfNoSnapshot(backend);

  const byPack = new Map<string, BlobLocation[]>();
  for (const blob of repository.blobs()) {
    const list = byPack.get(blob.pack) ?? [];
    list.push(blob);
    byPack.set(blob.pack, list);
  }
  const locations: BlobLocation[] = [];
  const obsolete: string[] = [];
  let rewrittenPacks = 0;
  let freedBytes = 0;
  let newPack: Uint8Array[] = [];
  let newBlobs: {
    id: string;
    type: "data" | "tree";
    offset: number;
    length: number;
    size: number;
  }[] = [];
  let newBytes = 0;
  const writeNewPack = async () => {
    if (newBlobs.length === 0) return;
    const bytes = Buffer.concat(newPack);
    const id = createHash("sha256").update(bytes).digest("hex");
    await backend.write(packPath(id), bytes);
    for (const blob of newBlobs) locations.push({ ...blob, pack: id });
    newPack = [];
    newBlobs = [];
    newBytes = 0;
  };
  for (const [pack, blobs] of byPack) {
    const live = blobs.filter((b) => used.has(b.id));
    const total = blobs.reduce((n, b) => n + b.length, 0);
    const dead = total - live.reduce((n, b) => n + b.length, 0);
    if (
      spared.has(pack) ||
      live.length === blobs.length ||
      (live.length > 0 && dead / total <= REPACK_UNUSED_SHARE)
    ) {
      locations.push(...live);
      continue;
    }
    obsolete.push(pack);
    freedBytes += dead;
    if (live.length === 0) continue;
    // The sealed blobs are copied as they are: a blob is sealed under its own id, not its pack.
    rewrittenPacks += 1;
    const bytes = await backend.read(packPath(pack), MAX_PACK_BYTES).catch((error: unknown) => {
      if (!(error instanceof BuckyError && error.code === "E_TOO_LARGE")) throw error;
      throw new BuckyError(
        "E_INTEGRITY",
        `pack ${pack.slice(0, 12)} is larger than any pack bucky writes (${MAX_PACK_BYTES} bytes): not rewritten`,
        "Someone who can write to the target may have grown it; `bucky backup verify` names the files it holds.",
      );
    });
    for (const blob of live) {
      const sealed = bytes.subarray(blob.offset, blob.offset + blob.length);
      repository.openSealedBlob(blob, sealed); // never carry a damaged blob forward
      newBlobs.push({
        id: blob.id,
        type: blob.type,
        offset: newBytes,
        length: blob.length,
        size: blob.size,
      });
      newPack.push(sealed);
      newBytes += blob.length;
      if (newBytes >= PACK_TARGET_BYTES) await writeNewPack();
    }
  }
  await writeNewPack();
  const leftOut = new Map<string, { problem: string; signedBy: string | null }>([
    ...repository.unreadableIndexFiles.map(
      ({ name, problem }) => [name, { problem, signedBy: null }] as const,
    ),
    ...repository.forgedIndexFiles.map(
      ({ name, why, signedBy }) => [name, { problem: why, signedBy }] as const,
    ),
  ]);
  const removedIndexFiles: PruneResult["removedIndexFiles"][number][] = [];
  for (const file of await repository.rewriteIndex(locations, indexFileBytes)) {
    const found = leftOut.get(file);
    if (!found) continue;
    removedIndexFiles.push({ file, ...found });
    log?.info("left-out index file removed", {
      file: file.slice(0, 8),
      problem: found.problem,
      ...(found.signedBy ? { signedBy: found.signedBy } : {}),
    });
  }
  for (const pack of obsolete) await backend.remove(packPath(pack));
  const named = new Set([...locations.map((l) => l.pack), ...spared]);
  const strays = await strayPacks(backend, named);
  for (const pack of strays) await backend.remove(packPath(pack));
  const temporaries = await removeTemporaries(backend);
  if (temporaries > 0) log?.info("temporary files of writes cut off removed", { temporaries });
  await removeOldHotFiles(
    backend,
    kept.filter((s) => trust.get(s.name) === "signed"),
  );
  return {
    keptSnapshots: kept.length,
    removedSnapshots: forgotten.length,
    removedPacks: obsolete.length - rewrittenPacks + strays.length,
    rewrittenPacks,
    freedBytes,
    removedIndexFiles: removedIndexFiles.sort((a, b) => compareCodeUnits(a.file, b.file)),
  };
}

/** Packs no index names: left by runs cut short before writing their index. */
async function strayPacks(backend: Backend, named: ReadonlySet<string>): Promise<string[]> {
  const strays: string[] = [];
  for (let prefix = 0; prefix < 256; prefix++) {
    const dir = `data/${prefix.toString(16).padStart(2, "0")}`;
    for (const name of await backend.list(dir)) if (!named.has(name)) strays.push(name);
  }
  return strays;
}

/**
 * The temporary files writes cut off left (a backup killed, or its connection lost, while
 * it wrote): no listing shows them, so nothing else removes them, and a pack's is up to
 * 16 MiB. None is being written while the prune holds the exclusive lock. Not in hot/
 * (hot changes are shipped without a lock) nor in locks/.
 */
async function removeTemporaries(backend: Backend): Promise<number> {
  if (!backend.listTemporaries) return 0;
  const dirs = ["index", "snapshots"];
  for (let prefix = 0; prefix < 256; prefix++)
    dirs.push(`data/${prefix.toString(16).padStart(2, "0")}`);
  let removed = 0;
  for (const dir of dirs)
    for (const name of await backend.listTemporaries(dir)) {
      await backend.remove(`${dir}/${name}`);
      removed += 1;
    }
  return removed;
}

/**
 * A device ships the changesets it has applied, and its snapshot holds the state it had
 * applied: its hot files older than its own newest snapshot are in that snapshot, and can
 * go. (A restore takes the state of every device's newest snapshot, then the hot files.)
 * Only its own signed snapshots count (`kept` holds no other): one filed in its name by
 * another holder of the key, dated ahead, would have its hot files deleted. The hot files
 * of a device with no signed snapshot stay.
 */
async function removeOldHotFiles(
  backend: Backend,
  kept: readonly { snapshot: { time: string; device: string } }[],
): Promise<void> {
  const newest = new Map<string, string>();
  for (const { snapshot } of kept)
    if (snapshot.time > (newest.get(snapshot.device) ?? ""))
      newest.set(snapshot.device, snapshot.time);
  // Cut past the listing cap, not refused: what was listed goes, and the next prune lists
  // the rest, so a hot/ grown past the cap while prunes failed is cleared again.
  for (const name of (await backend.listCut(HOT_DIR)).names) {
    const time = newest.get(hotFileDevice(name));
    if (!time) continue;
    // A margin: a changeset written just before the snapshot started may not be in it.
    const cutoff = new Date(new Date(time).getTime() - HOT_MARGIN_MS).toISOString();
    if (name < compactTime(cutoff)) await backend.remove(`${HOT_DIR}/${name}`);
  }
}

function isoWeek(date: Date): string {
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const weekday = day.getUTCDay() || 7;
  day.setUTCDate(day.getUTCDate() + 4 - weekday);
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${day.getUTCFullYear()}-W${week}`;
}

/**
 * A prune removes every pack its index does not name: with an index file left out that
 * does not open (or is larger than one can be), the packs it names could hold blobs a kept
 * snapshot needs, which no other file names (`unnamed` of them): then nothing is removed.
 * When the other files name every one, what it named is of no snapshot kept, and it goes.
 */
function refuseUnreadableIndex(repository: Repository, unnamed: number): void {
  const [first, ...more] = repository.unreadableIndexFiles;
  if (!first || unnamed === 0) return;
  throw new BuckyError(
    "E_INTEGRITY",
    `index file ${first.name.slice(0, 8)} of ${repository.backend.location} cannot be read (${first.problem})${more.length > 0 ? `, and ${more.length} more` : ""}, and ${unnamed === 1 ? "a blob" : `${unnamed} blobs`} that snapshots need ${unnamed === 1 ? "is" : "are"} named by no other: nothing was pruned, since the packs it names may hold ${unnamed === 1 ? "it" : "them"}`,
    "Run `bucky backup verify` to see what it affects; someone holding the backup key may have written it.",
  );
}

/**
 * A prune that went on while a blob a kept snapshot needs is in no place (named by no
 * index file, or only at places where it does not open, or in packs that are not there)
 * would sign that into the new index and delete what may hold it: nothing is removed.
 */
function refuseNowhere(repository: Repository, nowhere: number): void {
  if (nowhere === 0) return;
  throw new BuckyError(
    "E_INTEGRITY",
    `${nowhere === 1 ? "a blob" : `${nowhere} blobs`} that snapshots of ${repository.backend.location} need ${nowhere === 1 ? "is" : "are"} in no place an index file gives where ${nowhere === 1 ? "it opens" : "they open"}: nothing was pruned`,
    "Run `bucky backup verify` to see which snapshots it affects; the next backup adds again what is still on the devices.",
  );
}

/**
 * Prunes a target of the zone and records it in the status. Only on the device that
 * reaches the target: the others may not delete from it (remote.ts), and need not.
 */
export async function pruneTarget(options: {
  readonly paths: HomePaths;
  readonly target: string | undefined;
  readonly log: Log;
  readonly now: () => number;
}): Promise<PruneResult & { readonly target: string }> {
  const { paths, log } = options;
  const target = chooseTarget(homeTargets(paths, log), options.target);
  if (target.route.kind === "through")
    throw new BuckyError(
      "E_USAGE",
      `${target.name} is pruned by ${target.route.via}, the device that reaches it`,
      `Its daemon prunes every day; \`bucky backup prune --target ${target.name}\` there does it now.`,
    );
  // The zone read before the repository is held: a zone state that does not open fails
  // here, not with the other devices' backups kept waiting on the lock; and the prune holds
  // the repository with no lock of the database held (a paused prune holds up no backup).
  let result: PruneResult;
  try {
    const judge = homeJudge(paths, log);
    result = await withRepository(
      paths,
      target,
      log,
      (repository) => pruneRepository(repository, DEFAULT_RETENTION, judge, log),
      {
        lock: { kind: "exclusive", purpose: "prune" },
        now: options.now,
        // Read by the prune itself, checked against the zone.
        withIndex: false,
        signer: homeSigner(paths, log),
      },
    );
  } catch (error) {
    recordPruneFailure(paths, target.name, options.now(), (error as Error).message);
    throw error;
  }
  updateTargetStatus(paths, target.name, ({ lastPruneError: _, ...status }) => ({
    ...status,
    lastPrune: { at: new Date(options.now()).toISOString() },
  }));
  log.info("backup pruned", {
    target: target.name,
    removed: result.removedSnapshots,
    freed: result.freedBytes,
  });
  return { target: target.name, ...result };
}

/**
 * Records that a prune of `target` failed, for the zone to hear of (this device's facts):
 * a target nobody prunes grows until its disk is full, and only this device prunes it.
 */
function recordPruneFailure(
  paths: HomePaths,
  target: string,
  nowMs: number,
  message: string,
): void {
  const at = new Date(nowMs).toISOString();
  updateTargetStatus(paths, target, (status) => {
    const failing = status.lastPruneError;
    const stillFailing =
      failing !== undefined &&
      (status.lastPrune === undefined || Date.parse(failing.at) > Date.parse(status.lastPrune.at));
    return {
      ...status,
      lastPruneError: {
        at,
        since: stillFailing ? failing.since : at,
        message: message.slice(0, 500),
      },
    };
  });
}
