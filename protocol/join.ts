/**
 * The join request a new device sends to the device that invited it: the invitation's
 * id and secret, the name it wants, its public key, and a signature by that key proving
 * it holds it. The answer is the device document the owner key signed for it and, when
 * the inviting device holds the zone's backup key and the invitation gives it, that key
 * sealed to the new device (protocol/device-seal.ts), so it backs up from the start.
 *
 *   answer = JSON { device: <JWS>, backupKey?: base64url(sealed) }
 *
 * `backupKey` is optional and new: a joiner from before it ignores it (and gets no key),
 * a joiner now reads an answer without it as "no key"; so the answer keeps its shape and
 * neither side needs a version to tell.
 */
import { openAsDevice, sealToDevice } from "./device-seal.ts";
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import type { DeviceId, ZoneId } from "./ids.ts";
import { checkDeviceName, type DeviceName } from "./names.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString } from "./shape.ts";

/** The backup root is 32 bytes; sealed, 93; in base64url, 124 characters. */
const BACKUP_KEY_BYTES = 32;
const MAX_SEALED_KEY_LENGTH = 256;
const MAX_DEVICE_DOCUMENT_LENGTH = 8192;

export interface JoinRequest {
  readonly invite: string;
  readonly secret: Uint8Array;
  readonly name: DeviceName;
  readonly publicKey: Uint8Array;
}

export function encodeJoinRequest(
  zone: ZoneId,
  request: Omit<JoinRequest, "publicKey">,
  device: SigningKey,
): string {
  const proof = device.sign(proofInput(zone, request.invite, request.name, device.publicKey));
  return JSON.stringify({
    invite: request.invite,
    secret: toBase64url(request.secret),
    name: request.name,
    key: toBase64url(device.publicKey),
    proof: toBase64url(proof),
  });
}

/** Parses a join request and checks its proof of possession. Throws ProtocolError otherwise. */
export function decodeJoinRequest(zone: ZoneId, value: unknown): JoinRequest {
  const body = requireRecord(value, "join request");
  requireOnlyFields(body, ["invite", "secret", "name", "key", "proof"], "join request");
  const invite = requireString(body.invite, "join request invite", 32);
  const secret = fromBase64url(requireString(body.secret, "join request secret", 64));
  check(secret !== undefined, "join request secret is malformed");
  const name = checkDeviceName(requireString(body.name, "join request name", 64));
  check(name.ok, `join request name is invalid: ${name.ok ? "" : name.reason}`);
  const publicKey = fromBase64url(requireString(body.key, "join request key", 64));
  check(publicKey !== undefined, "join request key is malformed");
  const proof = fromBase64url(requireString(body.proof, "join request proof", 128));
  check(proof !== undefined, "join request proof is malformed");
  check(
    verifyKeyFromPublicKey(publicKey).verify(proofInput(zone, invite, name.name, publicKey), proof),
    "join request proof does not verify: the device does not hold its key",
  );
  return { invite, secret, name: name.name, publicKey };
}

/** Where a device asks to join: POST, with the request as its body. */
export const JOIN_PATH = "/v1/join";

/**
 * The path a device asks to join at, saying the level of write rules it reads
 * (protocol/write-rules.ts) as `?writeRules=<n>`: in the query, not the body, since an
 * inviting device from before it refuses a body with a field it does not know, and
 * ignores a query. A request without one is from a bucky before levels: level 0.
 */
export const JOIN_RULES_QUERY = "writeRules";

/** The join path saying `writeRulesLevel` (JOIN_RULES_QUERY). */
export function joinPath(writeRulesLevel: number): string {
  return `${JOIN_PATH}?${JOIN_RULES_QUERY}=${writeRulesLevel}`;
}

function proofInput(zone: ZoneId, invite: string, name: string, publicKey: Uint8Array): Uint8Array {
  return utf8(["bucky join v1", zone, invite, name, toBase64url(publicKey)].join("\n"));
}

export interface JoinAnswer {
  /** The new device's document (a JWS), signed by the owner key. */
  readonly device: string;
  /** The zone's backup root, sealed to the new device; absent when it is not given. */
  readonly backupKey?: Uint8Array;
}

export function encodeJoinAnswer(answer: JoinAnswer): string {
  return JSON.stringify({
    device: answer.device,
    ...(answer.backupKey ? { backupKey: toBase64url(answer.backupKey) } : {}),
  });
}

/** Parses an answer's fields (the document is verified by the caller). Throws ProtocolError. */
export function decodeJoinAnswer(text: string): JoinAnswer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    check(false, "the join answer is not JSON");
  }
  check(isRecord(value), "the join answer must be a map");
  const device = requireString(value.device, "join answer device", MAX_DEVICE_DOCUMENT_LENGTH);
  if (value.backupKey === undefined) return { device };
  const backupKey = fromBase64url(
    requireString(value.backupKey, "join answer backupKey", MAX_SEALED_KEY_LENGTH),
  );
  check(backupKey !== undefined, "join answer backupKey is malformed");
  return { device, backupKey };
}

/** Seals the zone's backup root to the device joining (its Ed25519 public key). */
export function sealBackupKey(options: {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  readonly devicePublicKey: Uint8Array;
  readonly backupRoot: Uint8Array;
  readonly ephemeral: Uint8Array;
  readonly nonce: Uint8Array;
}): Uint8Array {
  check(options.backupRoot.length === BACKUP_KEY_BYTES, "the backup root is 32 bytes");
  return sealToDevice({
    plaintext: options.backupRoot,
    device: options.devicePublicKey,
    context: backupKeyContext(options.zone, options.device),
    ephemeral: options.ephemeral,
    nonce: options.nonce,
  });
}

/** Opens the backup root an inviting device sealed to this one. Throws ProtocolError. */
export function openBackupKey(options: {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  readonly seed: Uint8Array;
  readonly devicePublicKey: Uint8Array;
  readonly sealed: Uint8Array;
}): Uint8Array {
  const root = openAsDevice({
    sealed: options.sealed,
    seed: options.seed,
    device: options.devicePublicKey,
    context: backupKeyContext(options.zone, options.device),
  });
  check(root.length === BACKUP_KEY_BYTES, "the sealed backup key is not 32 bytes");
  return root;
}

/** Binds a sealed key to its zone and device: it opens for nothing else. */
function backupKeyContext(zone: ZoneId, device: DeviceId): string {
  return ["bucky backup key v1", zone, device].join("\n");
}
