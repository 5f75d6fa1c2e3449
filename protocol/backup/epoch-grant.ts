/**
 * A key epoch's root given by a member to a device the epoch was not sealed to
 * (protocol/backup/key-epoch.ts): one whose facts did not say it held the backup key when
 * the owner drew the epoch (stale, or given the key since). Only the owner signs epochs, so
 * only it could seal the root to more devices in the record itself; but any device that
 * opens the root can seal it to another, and the root needs no signature of the one who
 * gives it: the owner-signed record's `check` says whether what opens is the epoch's root.
 *
 *   grant = sealToDevice(root, recipient's Ed25519 key,
 *                        context "bucky backup key epoch grant v1\n" ‖ zone ‖ "\n" ‖ epoch name ‖ "\n" ‖ recipient id)
 *
 * The zone state holds it under the giver's own keys (`nodes/<giver>/backup-epoch-grants/
 * <epoch name>/<recipient id>`, base64url), which only the giver may write.
 *
 * It is given only to a device that proves in its facts that it holds the phrase's backup
 * root (epoch 0), with which it reads every backup before the epoch anyway: a member joined
 * without the backup key, saying in its facts that it holds it, gets no newer key.
 *
 *   proof = base64url(HMAC-SHA256(phrase root, "bucky backup key held v1\n" ‖ zone ‖ "\n" ‖ device id))
 */
import { createHmac } from "node:crypto";
import { openAsDevice, sealToDevice } from "../device-seal.ts";
import { toBase64url } from "../encoding.ts";
import { check } from "../errors.ts";
import type { DeviceId, ZoneId } from "../ids.ts";
import { isEpochRoot, type KeyEpoch, keyEpochName } from "./key-epoch.ts";

/** A grant is a sealed 32-byte root: 93 bytes. */
export const MAX_EPOCH_GRANT_BYTES = 128;

export function sealEpochGrant(options: {
  readonly epoch: KeyEpoch;
  readonly root: Uint8Array;
  readonly recipient: DeviceId;
  /** The recipient's Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** Fresh random bytes, `n` at a time. */
  readonly random: (n: number) => Uint8Array;
}): Uint8Array {
  check(isEpochRoot(options.epoch, options.root), "not the epoch's root");
  return sealToDevice({
    plaintext: options.root,
    device: options.publicKey,
    context: grantContext(options.epoch.zone, keyEpochName(options.epoch), options.recipient),
    ephemeral: options.random(32),
    nonce: options.random(12),
  });
}

/**
 * The root a grant gives this device (its seed and id), checked against the owner-signed
 * epoch; a ProtocolError when it does not open or is not the epoch's root.
 */
export function openEpochGrant(options: {
  readonly epoch: KeyEpoch;
  readonly sealed: Uint8Array;
  readonly device: DeviceId;
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
}): Uint8Array {
  check(options.sealed.length <= MAX_EPOCH_GRANT_BYTES, "a key epoch grant is too long");
  const root = openAsDevice({
    sealed: options.sealed,
    seed: options.seed,
    device: options.publicKey,
    context: grantContext(options.epoch.zone, keyEpochName(options.epoch), options.device),
  });
  check(
    isEpochRoot(options.epoch, root),
    `a grant of key epoch ${options.epoch.epoch} holds a key that is not its root`,
  );
  return root;
}

function grantContext(zone: ZoneId, name: string, recipient: string): string {
  return `bucky backup key epoch grant v1\n${zone}\n${name}\n${recipient}`;
}

/** What a device that holds the phrase's backup root `root` says in its facts to prove it. */
export function backupKeyProof(root: Uint8Array, zone: ZoneId, device: DeviceId): string {
  return toBase64url(
    new Uint8Array(
      createHmac("sha256", root).update(`bucky backup key held v1\n${zone}\n${device}`).digest(),
    ),
  );
}
