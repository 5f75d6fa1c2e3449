/**
 * The zone's backup key epochs (protocol/backup/key-epoch.ts) as a home holds them: in
 * the zone state, `system/backup/key-epochs/<name>` (the owner-signed record, base64url),
 * written with the revocation it answers; and on each target, `keys/<name>` (the record's
 * bytes), filed before anything is sealed under it, and again beside each snapshot
 * (`snapshot-keys/<snapshot>-<name>`). So the key is held beyond the device that drew it
 * before it is used: a member that dies at once leaves it in the target, where each device
 * it was sealed to, and the recovery phrase, opens it; and `keys/` deleted (by someone who
 * can write to the target, or by hand) takes no snapshot's key with it.
 *
 * A device backs up under the newest epoch the zone has, whichever copy it learnt of. One
 * that cannot open it (not sealed to it) does not go on under an older one, which the
 * revoked device still holds: it says so. Reading, every epoch opened serves.
 */
import { randomBytes } from "node:crypto";
import {
  epochOfKeyEpochName,
  isEpochRoot,
  keyEpochName,
  MAX_EPOCH_DEVICES,
  MAX_KEY_EPOCH_BYTES,
  openKeyEpoch,
  readKeyEpoch,
  SNAPSHOT_KEY_DIR,
  signKeyEpoch,
  snapshotKeyName,
  snapshotKeyOfName,
} from "../../protocol/backup/key-epoch.ts";
import type { Op } from "../../protocol/changeset.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { type StateReader, stateRowsMatching, stateRowsUnder } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import type { Backend } from "./backend.ts";

export const KEY_EPOCH_PREFIX = "system/backup/key-epochs/";
/** Where a target holds the records: `keys/<name>`. */
export const TARGET_KEY_DIR = "keys";

/** A record whose owner signature held, as carried. */
export interface KnownEpoch {
  readonly epoch: number;
  /** Its name (protocol/backup/key-epoch.ts keyEpochName): its number and its root's check. */
  readonly name: string;
  readonly revoked: DeviceId;
  readonly bytes: Uint8Array;
}

/** Who opens the epochs: this device, and the owner where the home holds its key. */
export interface EpochOpener {
  readonly zone: ZoneId;
  /** Roots kept on this device (opened once with the phrase), by name; checked before use. */
  readonly kept?: ReadonlyMap<string, Uint8Array>;
  readonly device?: { readonly id: DeviceId; readonly key: SigningKey; readonly seed: Uint8Array };
  readonly ownerSeed?: Uint8Array;
}

/** The roots a home reads and writes a repository with. */
export interface BackupKeyring {
  /** Newest first, the phrase's root (epoch 0) last. */
  readonly roots: readonly Uint8Array[];
  /** The epoch roots[0] is. */
  readonly epoch: number;
  /** The newest epoch the zone has, where this home could not open it. */
  readonly unopened?: KnownEpoch;
  /** Every epoch known, to file on a target that lacks one. */
  readonly known: readonly KnownEpoch[];
}

/** The key epochs in the zone state, each checked (a record that is not the owner's is none). */
export function stateKeyEpochs(db: StateReader, zone: ZoneId): KnownEpoch[] {
  const known: KnownEpoch[] = [];
  for (const { key, value } of stateRowsUnder(db, KEY_EPOCH_PREFIX)) {
    try {
      const text: unknown = JSON.parse(value);
      const bytes = typeof text === "string" ? fromBase64url(text) : undefined;
      if (!bytes) continue;
      const known1 = knownEpoch(bytes, zone);
      if (known1 && `${KEY_EPOCH_PREFIX}${known1.name}` === key) known.push(known1);
    } catch (error) {
      if (!(error instanceof SyntaxError)) throw error;
    }
  }
  return known;
}

/**
 * The revoked devices the newest key epoch is still sealed to, in id order: none, but where
 * two devices holding the owner key revoked two devices at once, each sealing its epoch
 * (of the same number) to the one the other revoked. Whichever of the two a device backs up
 * under, a revoked device opens it: a device holding the owner key renews it
 * (renewOpenKeyEpoch, lib/zone/devices.ts).
 */
export function newestOpenToRevoked(
  db: StateReader,
  zone: ZoneId,
  membership: Membership,
): DeviceId[] {
  const known = stateKeyEpochs(db, zone);
  const newest = Math.max(0, ...known.map((epoch) => epoch.epoch));
  const open = new Set<DeviceId>();
  const revoked = (id: DeviceId) => standingOf(membership, id) === "revoked";
  for (const epoch of known.filter((e) => e.epoch === newest)) {
    const record = readKeyEpoch(epoch.bytes, zone);
    for (const id of record.devices.keys()) if (revoked(id)) open.add(id);
    // Or given to it by a member (epoch-grants.ts), one that had not heard of its revocation;
    // never to the device the epoch shuts out, which no giver gives it (a member's junk).
    for (const { key, value } of stateRowsMatching(
      db,
      `nodes/*/backup-epoch-grants/${epoch.name}/*`,
    )) {
      const recipient = key.slice(key.lastIndexOf("/") + 1) as DeviceId;
      if (value !== null && recipient !== record.revoked && revoked(recipient)) open.add(recipient);
    }
  }
  return [...open].sort(compareCodeUnits);
}

/**
 * The newest key epoch the zone state names (0: none, the phrase's root), by its keys
 * alone: cheap enough to ask often; what is sealed under goes by stateKeyEpochs.
 */
export function newestStateEpoch(db: StateReader): number {
  let newest = 0;
  for (const { key } of stateRowsUnder(db, KEY_EPOCH_PREFIX)) {
    const epoch = epochOfKeyEpochName(key.slice(KEY_EPOCH_PREFIX.length));
    if (epoch !== undefined && epoch > newest) newest = epoch;
  }
  return newest;
}

/**
 * The zone state op of a new key epoch answering the revocation of `revoked`: a fresh root
 * sealed to `devices` (those that stay and may back up) and to the owner.
 */
export function newKeyEpochOp(options: {
  readonly db: StateReader;
  readonly zone: ZoneId;
  readonly owner: SigningKey;
  readonly revoked: DeviceId;
  readonly devices: readonly DeviceId[];
}): { op: Op; epoch: number } {
  const epoch = Math.max(0, ...stateKeyEpochs(options.db, options.zone).map((e) => e.epoch)) + 1;
  const bytes = signKeyEpoch({
    zone: options.zone,
    epoch,
    root: randomBytes(32),
    revoked: options.revoked,
    devices: options.devices,
    owner: options.owner,
    random: (n) => randomBytes(n),
  });
  const name = keyEpochName(readKeyEpoch(bytes, options.zone));
  return {
    op: { key: `${KEY_EPOCH_PREFIX}${name}`, value: JSON.stringify(toBase64url(bytes)) },
    epoch,
  };
}

/**
 * The zone state ops that seal, as the owner, every key epoch `roots` opens to `device` too
 * (a device admitted with the backup key after a revocation): each epoch's record signed
 * anew, the same root, its devices and `device`. Epochs already sealed to it are left.
 */
export function sealEpochsToOps(options: {
  readonly db: StateReader;
  readonly zone: ZoneId;
  readonly owner: SigningKey;
  readonly roots: ReadonlyMap<string, Uint8Array>;
  readonly device: DeviceId;
}): Op[] {
  const ops: Op[] = [];
  for (const known of stateKeyEpochs(options.db, options.zone)) {
    const epoch = readKeyEpoch(known.bytes, options.zone);
    const name = keyEpochName(epoch);
    const root = options.roots.get(name);
    if (epoch.devices.has(options.device) || !root || !isEpochRoot(epoch, root)) continue;
    if (epoch.devices.size >= MAX_EPOCH_DEVICES) continue;
    const bytes = signKeyEpoch({
      zone: options.zone,
      epoch: epoch.epoch,
      root,
      revoked: epoch.revoked,
      devices: [...epoch.devices.keys(), options.device],
      owner: options.owner,
      random: (n) => randomBytes(n),
    });
    ops.push({
      key: `${KEY_EPOCH_PREFIX}${name}`,
      value: JSON.stringify(toBase64url(bytes)),
    });
  }
  return ops;
}

/**
 * The key epochs a target holds, each checked; a file that is not an owner's record is none.
 * From `keys/`, and for an epoch neither it nor `known` (the zone state's) has, from beside
 * the snapshots (`snapshot-keys/`): where `keys/` was deleted, the snapshots still name
 * every epoch their data is sealed under, so the phrase still opens them, and a device
 * that never heard of an epoch still learns of it before it seals anything.
 */
export async function targetKeyEpochs(
  backend: Backend,
  zone: ZoneId,
  known: readonly KnownEpoch[] = [],
): Promise<KnownEpoch[]> {
  const found: KnownEpoch[] = [];
  for (const name of await listDir(backend, TARGET_KEY_DIR)) {
    if (epochOfKeyEpochName(name) === undefined) continue;
    const bytes = await readRecord(backend, `${TARGET_KEY_DIR}/${name}`);
    const read = bytes && knownEpoch(bytes, zone);
    if (read && read.name === name) found.push(read);
  }
  const have = new Set([...known, ...found].map((epoch) => epoch.name));
  return [...found, ...(await besideSnapshots(backend, zone, have))];
}

/**
 * The epochs filed beside snapshots that are not in `have`: one genuine record of each.
 * Only epochs missing elsewhere cost a read, and only so many: anyone who can write to the
 * target can plant files under made-up names.
 */
async function besideSnapshots(
  backend: Backend,
  zone: ZoneId,
  have: ReadonlySet<string>,
): Promise<KnownEpoch[]> {
  const files = new Map<string, string[]>();
  // Cut, not refused, past the bound: names planted there must not stop every backup.
  for (const file of await listDirCut(backend, SNAPSHOT_KEY_DIR)) {
    const beside = snapshotKeyOfName(file);
    if (!beside || have.has(beside.name)) continue;
    files.set(beside.name, [...(files.get(beside.name) ?? []), file]);
  }
  // Those beside the most snapshots first: every snapshot sealed since a genuine epoch
  // began names it.
  const names = [...files.entries()].sort((a, b) => b[1].length - a[1].length);
  const found: KnownEpoch[] = [];
  let reads = 0;
  for (const [name, besides] of names) {
    for (const file of besides.slice(0, BESIDE_TRIES_PER_EPOCH)) {
      if (reads++ >= BESIDE_READS_MAX) return found;
      const bytes = await readRecord(backend, `${SNAPSHOT_KEY_DIR}/${file}`);
      const read = bytes && knownEpoch(bytes, zone);
      if (read?.name === name) {
        found.push(read);
        break;
      }
    }
  }
  return found;
}

/**
 * Removes the records beside snapshots that are no longer there (prune: forgotten ones, or
 * a run killed between filing its keys and its snapshot). Only under the exclusive lock:
 * a backup files its keys before its snapshot.
 */
export async function removeKeysOfNoSnapshot(backend: Backend): Promise<number> {
  const snapshots = new Set(await listDir(backend, "snapshots"));
  let removed = 0;
  // Cut past the bound: the rest go at the next prune.
  for (const file of await listDirCut(backend, SNAPSHOT_KEY_DIR)) {
    const beside = snapshotKeyOfName(file);
    if (!beside || snapshots.has(beside.snapshot)) continue;
    await backend.remove(`${SNAPSHOT_KEY_DIR}/${file}`);
    removed++;
  }
  return removed;
}

/** Records beside snapshots read for one epoch, at most, before it is given up. */
const BESIDE_TRIES_PER_EPOCH = 4;
/** Records beside snapshots read in all, at most (each up to MAX_KEY_EPOCH_BYTES). */
const BESIDE_READS_MAX = 256;

/**
 * Files beside snapshot `snapshot`, before it is filed, the record of each epoch of `known`
 * (every one its data may be sealed under). Never over a file there: its name is new.
 */
export async function fileBesideSnapshot(
  backend: Backend,
  snapshot: string,
  known: readonly KnownEpoch[],
): Promise<void> {
  const filed = new Set<string>();
  for (const epoch of known) {
    if (filed.has(epoch.name)) continue;
    filed.add(epoch.name);
    await backend.create(
      `${SNAPSHOT_KEY_DIR}/${snapshotKeyName(snapshot, epoch.name)}`,
      epoch.bytes,
    );
  }
}

/**
 * Files on the target each epoch of `known` it lacks, before anything is sealed under them.
 * A file in an epoch's name that is not its record (planted by someone who can write to the
 * target, to keep the genuine one out) is written over.
 */
export async function fileKeyEpochs(
  backend: Backend,
  known: readonly KnownEpoch[],
  zone: ZoneId,
): Promise<void> {
  const filed = new Set<string>();
  for (const epoch of known) {
    // One copy of each root: the state's and the target's record of a name hold the same.
    if (filed.has(epoch.name)) continue;
    filed.add(epoch.name);
    const path = `${TARGET_KEY_DIR}/${epoch.name}`;
    if (await backend.create(path, epoch.bytes)) continue;
    const there = await readRecord(backend, path);
    const held = there && knownEpoch(there, zone);
    if (held?.name !== epoch.name) await backend.write(path, epoch.bytes);
  }
}

/**
 * The roots `opener` opens of the epochs `known` (zone state and target together): newest
 * first, then the phrase's `root`.
 */
export function openKeyring(
  root: Uint8Array,
  known: readonly KnownEpoch[],
  opener: EpochOpener,
): BackupKeyring {
  // Each root's records (the state's and the target's, by name): any one that opens
  // serves. Newest epoch first; of two roots of one epoch, the first by name, on every device.
  const byName = new Map<string, KnownEpoch[]>();
  for (const epoch of known) byName.set(epoch.name, [...(byName.get(epoch.name) ?? []), epoch]);
  const ordered = [...byName.values()]
    .map((records) => records[0] as KnownEpoch)
    .sort((a, b) => b.epoch - a.epoch || compareCodeUnits(a.name, b.name));
  const roots: Uint8Array[] = [];
  let newestOpened: KnownEpoch | undefined;
  for (const epoch of ordered) {
    const records = byName.get(epoch.name) ?? [];
    const opened = records.map((record) => openOne(record, opener)).find((r) => r !== undefined);
    if (!opened) continue;
    roots.push(opened);
    newestOpened ??= epoch;
  }
  roots.push(root);
  const newest = ordered[0];
  return {
    roots,
    epoch: newestOpened?.epoch ?? 0,
    known: [...byName.values()].flat(),
    ...(newest && newest !== newestOpened ? { unopened: newest } : {}),
  };
}

/**
 * Every epoch of `known` opened with the owner's key (derived from the phrase just typed),
 * by epoch: a device given the key with the phrase keeps them (keepEpochRoots).
 */
export function openWithOwner(
  known: readonly KnownEpoch[],
  zone: ZoneId,
  ownerSeed: Uint8Array,
): Map<string, Uint8Array> {
  const opened = new Map<string, Uint8Array>();
  for (const record of known) {
    if (opened.has(record.name)) continue;
    const root = openOne(record, { zone, ownerSeed });
    if (root) opened.set(record.name, root);
  }
  return opened;
}

/** The error of a home that cannot open the zone's newest epoch, and so must not seal. */
export function unopenedEpochError(
  unopened: KnownEpoch,
  names: (id: DeviceId) => string,
): BuckyError {
  return new BuckyError(
    "E_PERMISSION",
    `the zone's backup key was renewed (epoch ${unopened.epoch}) when ${names(unopened.revoked)} was revoked, and the new key is not sealed to this device: it backs up nothing under the old key, which ${names(unopened.revoked)} still holds`,
    "Run this device's daemon: once the zone hears it holds the backup key, a device the new key was sealed to gives it on within seconds. Or give it the key with `bucky backup key` (it asks for the recovery phrase, which opens every epoch), or back up from a device the new key was sealed to.",
  );
}

function openOne(known: KnownEpoch, opener: EpochOpener): Uint8Array | undefined {
  const epoch = readKeyEpoch(known.bytes, opener.zone);
  try {
    const { device } = opener;
    const own =
      device &&
      openKeyEpoch(epoch, device.seed, { device: device.id, publicKey: device.key.publicKey });
    if (own) return own;
    const kept = opener.kept?.get(keyEpochName(epoch));
    if (kept && isEpochRoot(epoch, kept)) return kept;
    return opener.ownerSeed ? openKeyEpoch(epoch, opener.ownerSeed, "owner") : undefined;
  } catch (error) {
    // A copy that does not open (altered) is no copy: the others may.
    if (!(error instanceof ProtocolError)) throw error;
    return undefined;
  }
}

function knownEpoch(bytes: Uint8Array, zone: ZoneId): KnownEpoch | undefined {
  try {
    const epoch = readKeyEpoch(bytes, zone);
    return { epoch: epoch.epoch, name: keyEpochName(epoch), revoked: epoch.revoked, bytes };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    return undefined;
  }
}

async function listDir(backend: Backend, dir: string): Promise<string[]> {
  try {
    return await backend.list(dir);
  } catch (error) {
    // A repository no epoch was filed in has neither directory yet.
    if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return [];
    throw error;
  }
}

async function listDirCut(backend: Backend, dir: string): Promise<string[]> {
  try {
    return (await backend.listCut(dir)).names;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return [];
    throw error;
  }
}

async function readRecord(backend: Backend, path: string): Promise<Uint8Array | undefined> {
  try {
    return await backend.read(path, MAX_KEY_EPOCH_BYTES);
  } catch (error) {
    // Gone meanwhile, or past the bound (then it is no record: read as none).
    if (
      error instanceof BuckyError &&
      (error.code === "E_NOT_FOUND" || error.code === "E_TOO_LARGE")
    )
      return undefined;
    throw error;
  }
}
