/**
 * The join request a new device sends to the device that invited it: the invitation's
 * id and secret, the name it wants, its public key, and a signature by that key proving
 * it holds it. The answer is the device document the owner key signed for it.
 */
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import type { ZoneId } from "./ids.ts";
import { checkDeviceName, type DeviceName } from "./names.ts";
import { requireOnlyFields, requireRecord, requireString } from "./shape.ts";

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

function proofInput(zone: ZoneId, invite: string, name: string, publicKey: Uint8Array): Uint8Array {
  return utf8(["bucky join v1", zone, invite, name, toBase64url(publicKey)].join("\n"));
}
