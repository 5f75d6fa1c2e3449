/**
 * A key epoch of the zone's backups: after a device that may hold the backup key is
 * revoked, the owner draws a new random backup root and seals it to each device that stays
 * and to the owner itself (protocol/device-seal.ts), so new backups are sealed under a key
 * the revoked device never held. Epoch 0 is the root the recovery phrase gives
 * (protocol/phrase.ts); each later one is a record signed by the owner key:
 *
 *   record  = CBOR [body: bstr, signature: bstr]   (protocol/signed-record.ts)
 *   signature over "bucky backup key epoch v1\n" ‖ body
 *   body    = { v: 1, zone, epoch: n ≥ 1, revoked: "<device id the epoch shuts out>",
 *               check: SHA-256("bucky backup key epoch check v1\n" ‖ zone ‖ "\n" ‖ n ‖ "\n" ‖ root),
 *               owner: sealed root, devices: { "<device id>": sealed root, … } }
 *   sealed  = sealToDevice(root, recipient's Ed25519 key,
 *                          context "bucky backup key epoch v1\n" ‖ zone ‖ "\n" ‖ n ‖ "\n" ‖ recipient id)
 *
 * The owner's copy is sealed to the zone id (the owner's public key), so the recovery
 * phrase opens every epoch; `check` lets whoever opens a copy know it is the epoch's root.
 * Only the owner signs one, so no member can slip the zone a key of its own choosing.
 */
import { createHash } from "node:crypto";
import { openAsDevice, sealToDevice } from "../device-seal.ts";
import type { SigningKey } from "../ed25519.ts";
import { verifyKeyFromPublicKey } from "../ed25519.ts";
import { bytesEqual, utf8 } from "../encoding.ts";
import { check } from "../errors.ts";
import { type DeviceId, parseDeviceId, publicKeyOfId, type ZoneId } from "../ids.ts";
import { requireBytes, requireRecord, requireString, requireUint } from "../shape.ts";
import { openRecord, sealRecord, signatureHolds } from "../signed-record.ts";

const CONTEXT = utf8("bucky backup key epoch v1\n");
const ROOT_BYTES = 32;
/** Sealing a 32-byte root adds 61 bytes. */
const SEALED_ROOT_BYTES = ROOT_BYTES + 61;
/** Devices one epoch is sealed to, at most: a zone is a person's devices. */
export const MAX_EPOCH_DEVICES = 256;
/** A record of MAX_EPOCH_DEVICES sealings is some 40 KiB. */
export const MAX_KEY_EPOCH_BYTES = 64 * 1024;
/** Epochs are counted from 1 (0 is the phrase's root); a bound on a number anyone could write. */
export const MAX_EPOCH = 1_000_000;
const ID_MAX_LENGTH = 64;

export interface KeyEpoch {
  readonly zone: ZoneId;
  readonly epoch: number;
  /** The device whose revocation the epoch answers. */
  readonly revoked: DeviceId;
  readonly check: Uint8Array;
  readonly owner: Uint8Array;
  readonly devices: ReadonlyMap<DeviceId, Uint8Array>;
}

/** Signs epoch `epoch` of `zone`: `root` sealed to each of `devices` and to the owner. */
export function signKeyEpoch(options: {
  readonly zone: ZoneId;
  readonly epoch: number;
  readonly root: Uint8Array;
  readonly revoked: DeviceId;
  readonly devices: readonly DeviceId[];
  readonly owner: SigningKey;
  /** Fresh random bytes, `n` at a time (ephemeral keys and nonces). */
  readonly random: (n: number) => Uint8Array;
}): Uint8Array {
  const { zone, epoch, root } = options;
  check(root.length === ROOT_BYTES, "a backup root is 32 bytes");
  check(Number.isSafeInteger(epoch) && epoch >= 1 && epoch <= MAX_EPOCH, "not an epoch");
  check(options.devices.length <= MAX_EPOCH_DEVICES, "too many devices for one epoch");
  const ownerId = zone as string;
  const sealTo = (recipient: string, publicKey: Uint8Array) =>
    sealToDevice({
      plaintext: root,
      device: publicKey,
      context: sealContext(zone, epoch, recipient),
      ephemeral: options.random(32),
      nonce: options.random(12),
    });
  const ownerKey = publicKeyOfId(zone, "zone");
  check(ownerKey !== undefined, "not a zone id");
  const devices: Record<string, Uint8Array> = {};
  for (const device of [...options.devices].sort()) {
    const publicKey = publicKeyOfId(device, "device");
    check(publicKey !== undefined, `${device} is not a device id`);
    devices[device] = sealTo(device, publicKey);
  }
  return sealRecord(
    {
      v: 1,
      zone,
      epoch,
      revoked: options.revoked,
      check: rootCheck(zone, epoch, root),
      owner: sealTo(ownerId, ownerKey),
      devices,
    },
    options.owner,
    CONTEXT,
  );
}

/**
 * The key epoch `bytes` holds, its owner signature checked against `zone` (whose id comes
 * from the phrase or the home, never from the record). Throws ProtocolError.
 */
export function readKeyEpoch(bytes: Uint8Array, zone: ZoneId): KeyEpoch {
  const record = openRecord(bytes, MAX_KEY_EPOCH_BYTES, "key epoch");
  const { body } = record;
  check(body.v === 1, `a key epoch of version ${String(body.v)} is not supported`);
  check(body.zone === zone, "the key epoch is another zone's");
  const ownerKey = publicKeyOfId(zone, "zone");
  check(ownerKey !== undefined, "not a zone id");
  check(
    signatureHolds(record, verifyKeyFromPublicKey(ownerKey), CONTEXT),
    "the key epoch is not signed by the zone's owner",
  );
  const epoch = requireUint(body.epoch, "key epoch number", MAX_EPOCH);
  check(epoch >= 1, "key epochs are counted from 1");
  const revoked = deviceIdOf(requireString(body.revoked, "key epoch revoked", ID_MAX_LENGTH));
  const devicesField = requireRecord(body.devices, "key epoch devices");
  const entries = Object.entries(devicesField);
  check(entries.length <= MAX_EPOCH_DEVICES, "a key epoch names too many devices");
  const devices = new Map<DeviceId, Uint8Array>();
  for (const [id, sealed] of entries)
    devices.set(deviceIdOf(id), requireBytes(sealed, "a device's sealed root", SEALED_ROOT_BYTES));
  return {
    zone,
    epoch,
    revoked,
    check: requireBytes(body.check, "key epoch check", 32),
    owner: requireBytes(body.owner, "the owner's sealed root", SEALED_ROOT_BYTES),
    devices,
  };
}

/**
 * The epoch's root, opened with the key whose seed is `seed`: a device's (sealed to it in
 * `devices`) or the owner's (`as: "owner"`). Undefined when the epoch holds no copy for
 * that key; a ProtocolError when the copy does not open or is not the epoch's root.
 */
export function openKeyEpoch(
  epoch: KeyEpoch,
  seed: Uint8Array,
  as: { readonly device: DeviceId; readonly publicKey: Uint8Array } | "owner",
): Uint8Array | undefined {
  const recipient = as === "owner" ? (epoch.zone as string) : as.device;
  const sealed = as === "owner" ? epoch.owner : epoch.devices.get(as.device);
  if (!sealed) return undefined;
  const publicKey = as === "owner" ? publicKeyOfId(epoch.zone, "zone") : as.publicKey;
  check(publicKey !== undefined, "not a zone id");
  const root = openAsDevice({
    sealed,
    seed,
    device: publicKey,
    context: sealContext(epoch.zone, epoch.epoch, recipient),
  });
  check(
    root.length === ROOT_BYTES && bytesEqual(rootCheck(epoch.zone, epoch.epoch, root), epoch.check),
    `key epoch ${epoch.epoch} holds a copy that is not its root`,
  );
  return root;
}

/**
 * The name a key epoch is filed under (`system/backup/key-epochs/<name>`, `keys/<name>`):
 * its number and the first 16 hex digits of its check. Two owner devices that each began
 * epoch n unaware of the other (a partition) made two roots: both are kept, each under its
 * own name, and every device seals under the same one (the first name in order).
 */
export function keyEpochName(epoch: Pick<KeyEpoch, "epoch" | "check">): string {
  return `${epoch.epoch}-${Buffer.from(epoch.check).toString("hex").slice(0, 16)}`;
}

/** The epoch number a key epoch's name gives; undefined when it is no such name. */
export function epochOfKeyEpochName(name: string): number | undefined {
  const match = /^([1-9][0-9]{0,6})-[0-9a-f]{16}$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Where a target holds a key epoch's record beside a snapshot sealed while it was known:
 * `snapshot-keys/<snapshot name>-<epoch name>`, one file for each epoch the writer knew (an
 * older snapshot's data it reuses may be sealed under any of them). So a snapshot that is
 * there opens from the recovery phrase whatever became of `keys/`.
 */
export const SNAPSHOT_KEY_DIR = "snapshot-keys";

/** The file name of epoch `epoch`'s record beside snapshot `snapshot`. */
export function snapshotKeyName(snapshot: string, epoch: string): string {
  return `${snapshot}-${epoch}`;
}

/** The snapshot and the epoch a file beside a snapshot names; undefined when it is no such name. */
export function snapshotKeyOfName(
  name: string,
): { readonly snapshot: string; readonly name: string } | undefined {
  const match = /^([0-9a-f]{32})-(.+)$/.exec(name);
  if (!match || epochOfKeyEpochName(match[2] as string) === undefined) return undefined;
  return { snapshot: match[1] as string, name: match[2] as string };
}

/** Whether `root` is epoch `epoch`'s root (a copy kept elsewhere, checked before use). */
export function isEpochRoot(epoch: KeyEpoch, root: Uint8Array): boolean {
  return (
    root.length === ROOT_BYTES && bytesEqual(rootCheck(epoch.zone, epoch.epoch, root), epoch.check)
  );
}

function deviceIdOf(text: string): DeviceId {
  const id = parseDeviceId(text);
  check(id !== undefined, "a key epoch names something that is not a device id");
  return id;
}

function sealContext(zone: ZoneId, epoch: number, recipient: string): string {
  return `bucky backup key epoch v1\n${zone}\n${epoch}\n${recipient}`;
}

function rootCheck(zone: ZoneId, epoch: number, root: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash("sha256")
      .update(`bucky backup key epoch check v1\n${zone}\n${epoch}\n`)
      .update(root)
      .digest(),
  );
}
