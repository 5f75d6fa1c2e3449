/**
 * Checking a repository: every snapshot's trees are read (and checked against their ids),
 * every blob they name must be in the index, and with `readData` the packs are read back
 * and every blob in them opened and checked, all of them or a random sample. Damage is
 * reported as the snapshots and files it touches, so the owner knows what is at stake.
 * Every snapshot's signature is checked against the zone's devices too: a repository with
 * a forged snapshot (one any holder of the backup key wrote in a device's name) is not
 * sound, however whole its blobs are. So is one that no longer holds a device's last backup,
 * as the device said it in the zone (the target hid it, or lost it): a restore would
 * quietly take an older one.
 */

import { type BlobLocation, decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import type { Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { openZone } from "../zone/open.ts";
import { DAMAGE_RECORD_WRITE, foundDamageOps } from "./damage-records.ts";
import { recordDamagedBlobs } from "./damaged-blobs.ts";
import { release } from "./release.ts";
import { MAX_PACK_BYTES, packPath, type Repository } from "./repository.ts";
import { homeJudge, withRepository } from "./run.ts";
import { lastBackupsMissing, type SaidLatest, saidLatest } from "./said-latest.ts";
import { CLEAR_DEVICE_KEY_PATH } from "./sealed-device-key.ts";
import { checkSnapshot, type SnapshotJudge, type SnapshotTrust } from "./snapshot-trust.ts";
import { updateTargetStatus } from "./status.ts";
import { writeZoneState } from "./target-records.ts";
import { chooseTarget, homeTargets, readZoneTargets } from "./zone-targets.ts";

export type ReadData =
  | { readonly kind: "none" }
  | { readonly kind: "all" }
  | { readonly kind: "subset"; readonly percent: number };

export interface Damage {
  readonly blob: string;
  readonly pack: string | null;
  readonly problem: string;
  /**
   * The snapshots that need the blob, the device each is of, and in each, the files (a
   * path ending in / is a directory's listing).
   */
  readonly snapshots: readonly {
    readonly id: string;
    readonly device: string;
    readonly files: readonly string[];
  }[];
}

/** A snapshot whose check found it not trusted (lib/backup/snapshot-trust.ts). */
export interface UntrustedSnapshot {
  readonly snapshot: string;
  readonly device: string;
  readonly time: string;
  readonly trust: Exclude<SnapshotTrust, "signed">;
  readonly signedBy: string | null;
  readonly why: string;
}

export interface VerifyResult {
  /** No damage, no snapshot that does not open, and no forged snapshot. */
  readonly ok: boolean;
  readonly snapshots: number;
  /** Snapshot files that do not open (damaged, or made unreadable by a key holder): left out of everything else. */
  readonly unreadable: readonly { readonly snapshot: string; readonly problem: string }[];
  /**
   * Index files that do not open, or are larger than one can be (damaged, or written by
   * anyone who can write to the target): left out, so the blobs only they name read as
   * missing; prune deletes them once every blob a kept snapshot needs is named elsewhere.
   */
  readonly unreadableIndex: readonly { readonly file: string; readonly problem: string }[];
  /**
   * Index files whose signature does not hold, or is for other blobs or another file, or is
   * by a key the owner never admitted (written by a holder of the backup key): left out;
   * the next prune deletes them. `signedBy`: the device whose key signed it, if any.
   */
  readonly forgedIndex: readonly {
    readonly file: string;
    readonly why: string;
    readonly signedBy: string | null;
  }[];
  /**
   * The snapshots not trusted, oldest first: forged ones make the repository unsound;
   * unsigned (an older bucky's), revoked devices' and unknown names' are said, and a home
   * restore leaves them out.
   */
  readonly untrusted: readonly UntrustedSnapshot[];
  /**
   * The snapshots, oldest first, an older bucky took with the device key in the clear:
   * readable by every holder of the backup key until prune ages them out.
   */
  readonly clearDeviceKeys: readonly string[];
  /**
   * Devices whose last backup, as they said it in the zone, the target no longer holds, nor
   * any later snapshot they signed: it was hidden or lost, and their newest here is older.
   */
  readonly missingLatest: readonly SaidLatest[];
  readonly checkedBlobs: number;
  readonly checkedPacks: number;
  readonly damaged: readonly Damage[];
}

/** Verifies a target's repository and records the outcome in its status (and the log). */
export async function verifyTarget(options: {
  readonly paths: HomePaths;
  /** The target's name; none: the only one. */
  readonly target: string | undefined;
  readonly readData: ReadData;
  readonly log: Log;
  readonly now: () => number;
  /** Hears how many bytes of the packs chosen are read back, of how many. */
  readonly onProgress?: (doneBytes: number, totalBytes: number) => void;
}): Promise<VerifyResult & { readonly target: string }> {
  const { paths, log } = options;
  const target = chooseTarget(homeTargets(paths, log), options.target);
  // Read before the snapshots are: a backup finishing meanwhile is then listed too.
  const said = saidLatest(paths, target.name, log);
  // Under a shared lock: a prune deleting packs meanwhile would look like damage.
  const result = await withRepository(
    paths,
    target,
    log,
    async (repository) => {
      const verified = await verifyRepository(
        repository,
        options.readData,
        options.onProgress,
        homeJudge(paths, log),
        said,
      );
      // For this device's next backup to store again (a backup does not read back what
      // the index places).
      recordDamagedBlobs(
        paths,
        repository.id,
        verified.damaged.map((d) => d.blob),
      );
      return verified;
    },
    { lock: { kind: "read", purpose: "verify" }, withIndex: false, now: options.now },
  );
  // And for the zone: each device whose own snapshots need a damaged blob stores it again
  // at its next backup (only it holds its data), and every device's status says so until then.
  await recordZoneDamage(paths, target.name, result, log, options.now);
  const forged = result.untrusted.filter((s) => s.trust === "forged").length;
  updateTargetStatus(paths, target.name, (status) => ({
    ...status,
    lastVerify: {
      at: new Date(options.now()).toISOString(),
      ok: result.ok,
      damaged:
        result.damaged.length +
        result.unreadable.length +
        result.unreadableIndex.length +
        result.missingLatest.length,
      ...(forged > 0 ? { forged } : {}),
      ...(result.forgedIndex.length > 0 ? { forgedIndex: result.forgedIndex.length } : {}),
    },
  }));
  if (result.ok) log.info("backup verified", { target: target.name, blobs: result.checkedBlobs });
  else
    log.error("backup damaged", {
      target: target.name,
      damaged: result.damaged.length,
      forged,
      forgedIndex: result.forgedIndex.length,
      missingLatest: result.missingLatest.length,
    });
  return { target: target.name, ...result };
}

/**
 * Records in the zone state, for each device whose signed snapshots need blobs the verify
 * found damaged, which they are (lib/backup/damage-records.ts). A snapshot not trusted
 * names a device it may not be of: its device is told nothing of it.
 */
async function recordZoneDamage(
  paths: HomePaths,
  target: string,
  result: VerifyResult,
  log: Log,
  now: () => number,
): Promise<void> {
  const untrusted = new Set(result.untrusted.map((s) => s.snapshot));
  const found = new Map<string, string[]>();
  for (const damage of result.damaged)
    for (const { id, device } of damage.snapshots) {
      if (untrusted.has(id) || !device) continue;
      const ids = found.get(device) ?? [];
      if (!ids.includes(damage.blob)) ids.push(damage.blob);
      found.set(device, ids);
    }
  if (found.size === 0) return;
  const zone = openZone(paths.home, log);
  let ops: Op[] = [];
  try {
    // A repository named by its place (`--target /mnt/old`) is none of the zone's: no
    // device's backup goes there to store anything again.
    if (!readZoneTargets(zone.db).some((t) => t.name === target)) return;
    ops = foundDamageOps(zone.db, target, found, zone.device.name, new Date(now()).toISOString());
  } finally {
    zone.close();
  }
  if (ops.length > 0) await writeZoneState(paths, ops, log, now, DAMAGE_RECORD_WRITE);
  for (const [device, ids] of found)
    log.info("backup damage recorded for the zone", { target, device, blobs: ids.length });
}

/** Per snapshot, the files that need a blob. */
type Use = Map<string, Set<string>>;

/**
 * Of each blob of `wanted`, the snapshots whose trees need it and where: a file's path
 * (`/data/notes.txt`), or a tree's with a trailing slash (`/data/`, `/` for the root).
 * Only subtrees that hold a wanted blob are entered, each judged once.
 */
function usesOf(
  wanted: ReadonlySet<string>,
  snapshots: readonly { readonly name: string; readonly snapshot: { readonly tree: string } }[],
  trees: ReadonlyMap<string, readonly TreeNode[]>,
): Map<string, Use> {
  const uses = new Map<string, Use>();
  if (wanted.size === 0) return uses;
  const holds = new Map<string, boolean>();
  const holdsWanted = (tree: string): boolean => {
    const known = holds.get(tree);
    if (known !== undefined) return known;
    const found =
      wanted.has(tree) ||
      (trees.get(tree) ?? []).some((node) =>
        node.type === "file"
          ? node.content.some((blob) => wanted.has(blob))
          : node.type === "dir" && holdsWanted(node.subtree),
      );
    holds.set(tree, found);
    return found;
  };
  const use = (blob: string, snapshot: string, path: string) => {
    const entry: Use = uses.get(blob) ?? new Map();
    const files = entry.get(snapshot) ?? new Set<string>();
    files.add(path);
    entry.set(snapshot, files);
    uses.set(blob, entry);
  };
  const walk = (tree: string, at: string, snapshot: string) => {
    if (wanted.has(tree)) use(tree, snapshot, `${at}/`);
    for (const node of trees.get(tree) ?? []) {
      if (node.type === "file") {
        for (const blob of node.content)
          if (wanted.has(blob)) use(blob, snapshot, `${at}/${node.name}`);
      } else if (node.type === "dir" && holdsWanted(node.subtree))
        walk(node.subtree, `${at}/${node.name}`, snapshot);
    }
  };
  for (const { name, snapshot } of snapshots)
    if (holdsWanted(snapshot.tree)) walk(snapshot.tree, "", name);
  return uses;
}

/** Whether the tree `root` holds `path` (`/identity/device.key`), by the trees read. */
function holdsPath(
  trees: ReadonlyMap<string, readonly TreeNode[]>,
  root: string,
  path: string,
): boolean {
  const parts = path.split("/").filter(Boolean);
  let tree = root;
  for (const [index, part] of parts.entries()) {
    const node: TreeNode | undefined = (trees.get(tree) ?? []).find((n) => n.name === part);
    if (!node) return false;
    if (index === parts.length - 1) return true;
    if (node.type !== "dir") return false;
    tree = node.subtree;
  }
  return false;
}

export async function verifyRepository(
  repository: Repository,
  readData: ReadData,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
  /** The zone to check signatures against; without it, only that they hold. */
  judge?: SnapshotJudge,
  /** Each device's last backup as it said it, which the repository must still reach. */
  said: readonly SaidLatest[] = [],
): Promise<VerifyResult> {
  const problems = new Map<string, string>();
  const snapshots = await repository.snapshots();
  const untrusted: UntrustedSnapshot[] = [];
  const trusted: (typeof snapshots)[number][] = [];
  for (const entry of snapshots) {
    const check = checkSnapshot(entry, judge);
    if (check.trust === "signed") {
      trusted.push(entry);
      continue;
    }
    untrusted.push({
      snapshot: entry.name,
      device: entry.snapshot.device,
      time: entry.snapshot.time,
      trust: check.trust,
      signedBy: check.signedBy,
      why: check.why,
    });
  }
  const missingLatest = lastBackupsMissing(
    said,
    trusted.map(({ snapshot }) => snapshot),
  );
  // The index once the snapshots are listed: a backup running meanwhile writes its index
  // before its snapshot, so every blob a listed snapshot needs is named by then.
  await repository.loadIndex(judge);
  let checkedBlobs = 0;
  // Each distinct tree read once, its nodes kept: snapshots share most of theirs, so this
  // grows with what the repository holds, not with snapshots × files (the files of each
  // snapshot that need a blob are found after, for the damaged blobs only).
  const trees = new Map<string, TreeNode[]>();
  const referenced = new Set<string>();
  const readTree = async (tree: string): Promise<void> => {
    if (trees.has(tree)) return;
    referenced.add(tree);
    let nodes: TreeNode[];
    try {
      nodes = decodeTree(await repository.readBlob(tree));
      checkedBlobs += 1;
    } catch (error) {
      if (!(error instanceof BuckyError || error instanceof ProtocolError)) throw error;
      problems.set(tree, error.message);
      nodes = [];
    }
    trees.set(tree, nodes);
    for (const node of nodes) {
      if (node.type === "file") for (const blob of node.content) referenced.add(blob);
      else if (node.type === "dir") await readTree(node.subtree);
    }
  };
  for (const { snapshot } of snapshots) await readTree(snapshot.tree);
  const clearDeviceKeys = snapshots
    .filter(({ snapshot }) => holdsPath(trees, snapshot.tree, CLEAR_DEVICE_KEY_PATH))
    .map(({ name }) => name);
  for (const id of referenced)
    if (!repository.locate(id)) problems.set(id, "missing from the index");

  let checkedPacks = 0;
  if (readData.kind !== "none") {
    const byPack = new Map<string, BlobLocation[]>();
    for (const blob of repository.blobs()) {
      const list = byPack.get(blob.pack) ?? [];
      list.push(blob);
      byPack.set(blob.pack, list);
    }
    // A blob that does not open at its chosen place but at another an index file gives (a
    // planted file may name it at a wrong place first) is sound: a restore reads it there.
    // Found elsewhere at another size is a problem all the same: the chosen entry's size is
    // the one a restore lays the file's chunks out by, unless it reads them again.
    const foundElsewhere = async (blob: BlobLocation, problem: string) => {
      const plaintext = await repository.readElsewhere(blob.id, blob);
      if (!plaintext) {
        problems.set(blob.id, problem);
        return;
      }
      const size = plaintext.length;
      release(plaintext);
      checkedBlobs += 1;
      if (size !== blob.size)
        problems.set(
          blob.id,
          `an index entry says it is ${blob.size} bytes, where it opens elsewhere at ${size}`,
        );
    };
    const packs = [...byPack.keys()];
    const chosen = readData.kind === "all" ? packs : sample(packs, readData.percent);
    const sizeOf = (pack: string) =>
      (byPack.get(pack) ?? []).reduce((sum, blob) => sum + blob.length, 0);
    const totalBytes = chosen.reduce((sum, pack) => sum + sizeOf(pack), 0);
    let doneBytes = 0;
    for (const pack of chosen) {
      const blobs = byPack.get(pack) ?? [];
      onProgress?.(doneBytes, totalBytes);
      doneBytes += sizeOf(pack);
      let bytes: Uint8Array;
      try {
        bytes = await repository.backend.read(packPath(pack), MAX_PACK_BYTES);
      } catch (error) {
        if (!(error instanceof BuckyError)) throw error;
        // Grown past what any pack can be (anyone who can write to the target can): not
        // read, and its blobs looked for elsewhere, as a missing pack's are.
        const problem =
          error.code === "E_NOT_FOUND"
            ? `pack ${pack.slice(0, 12)} is missing`
            : error.code === "E_TOO_LARGE"
              ? `pack ${pack.slice(0, 12)} is larger than any pack bucky writes`
              : undefined;
        if (problem === undefined) throw error;
        for (const blob of blobs) await foundElsewhere(blob, problem);
        continue;
      }
      checkedPacks += 1;
      for (const blob of blobs) {
        try {
          if (blob.offset + blob.length > bytes.length)
            throw new BuckyError("E_INTEGRITY", `pack ${pack.slice(0, 12)} is cut short`);
          const plaintext = repository.openSealedBlob(
            blob,
            bytes.subarray(blob.offset, blob.offset + blob.length),
          );
          // Checked and not kept: its memory goes back now (see release.ts).
          release(plaintext);
          checkedBlobs += 1;
        } catch (error) {
          if (!(error instanceof BuckyError)) throw error;
          await foundElsewhere(blob, error.message);
        }
      }
      release(bytes);
    }
  } else {
    for (const id of referenced) if (repository.locate(id)) checkedBlobs += 1;
  }

  const deviceOf = new Map(snapshots.map(({ name, snapshot }) => [name, snapshot.device]));
  const uses = usesOf(new Set(problems.keys()), snapshots, trees);
  const damaged: Damage[] = [...problems].map(([blob, problem]) => ({
    blob,
    pack: repository.locate(blob)?.pack ?? null,
    problem,
    snapshots: [...(uses.get(blob) ?? new Map<string, Set<string>>())]
      .map(([id, files]) => ({ id, device: deviceOf.get(id) ?? "", files: [...files].sort() }))
      .sort((a, b) => compareCodeUnits(a.id, b.id)),
  }));
  const unreadable = repository.unreadableSnapshots.map(({ name, problem }) => ({
    snapshot: name,
    problem,
  }));
  const unreadableIndex = repository.unreadableIndexFiles.map(({ name, problem }) => ({
    file: name,
    problem,
  }));
  const forgedIndex = repository.forgedIndexFiles.map(({ name, why, signedBy }) => ({
    file: name,
    why,
    signedBy,
  }));
  return {
    ok:
      damaged.length === 0 &&
      unreadable.length === 0 &&
      unreadableIndex.length === 0 &&
      forgedIndex.length === 0 &&
      missingLatest.length === 0 &&
      !untrusted.some((s) => s.trust === "forged"),
    snapshots: snapshots.length,
    unreadable,
    unreadableIndex,
    forgedIndex,
    untrusted,
    clearDeviceKeys,
    missingLatest,
    checkedBlobs,
    checkedPacks,
    damaged,
  };
}

/** About `percent` of the items, at least one, chosen at random. */
function sample<T>(items: readonly T[], percent: number): T[] {
  const count = Math.min(items.length, Math.max(1, Math.ceil((items.length * percent) / 100)));
  const shuffled = [...items];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [shuffled[i], shuffled[j]] = [shuffled[j] as T, shuffled[i] as T];
  }
  return shuffled.slice(0, count);
}
