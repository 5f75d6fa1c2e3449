/**
 * Invitations: a join token is a compact JWS signed by the owner key. It carries the
 * zone id, so the joining device verifies the zone before it sends anything, and the
 * inviting device's id and addresses, so it knows whom to contact and which TLS key to
 * expect. The secret in it is what the joiner presents; the inviter keeps only its hash.
 */
import { createHash } from "node:crypto";
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url } from "./encoding.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  parseDeviceId,
  parseZoneId,
  publicKeyOfId,
  type ZoneId,
  zoneIdFromPublicKey,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const INVITE_TYPE = "bucky-invite/1";
export const INVITE_ID_BYTES = 16;
export const INVITE_SECRET_BYTES = 32;
export const MAX_INVITE_ADDRESSES = 16;
const MAX_ADDRESS_LENGTH = 256;

export interface Invite {
  readonly zone: ZoneId;
  readonly inviter: DeviceId;
  /** base64url of 16 random bytes. */
  readonly id: string;
  readonly secret: Uint8Array;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
  /** `https://host:port` addresses of the inviting device. */
  readonly addresses: readonly string[];
}

export function signInvite(invite: Omit<Invite, "zone">, owner: SigningKey): string {
  const zone = zoneIdFromPublicKey(owner.publicKey);
  return signJws(
    { alg: "EdDSA", typ: INVITE_TYPE, kid: zone },
    {
      zone,
      inviter: invite.inviter,
      id: invite.id,
      secret: toBase64url(invite.secret),
      exp: invite.expiresAt,
      addrs: invite.addresses,
    },
    owner,
  );
}

/** Verifies a token's signature and shape (not its expiry). Throws ProtocolError otherwise. */
export function verifyInvite(token: string): Invite {
  const decoded = decodeJws(token.trim());
  check(decoded.header.typ === INVITE_TYPE, "not a bucky invitation");
  const payload = requireRecord(decoded.payload, "invitation");
  requireOnlyFields(payload, ["zone", "inviter", "id", "secret", "exp", "addrs"], "invitation");
  const zone = parseZoneId(requireString(payload.zone, "invitation zone", 64));
  check(
    zone !== undefined && decoded.header.kid === zone,
    "invitation is not signed by its zone's owner",
  );
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(zone, "zone") as Uint8Array));
  const inviter = parseDeviceId(requireString(payload.inviter, "invitation inviter", 64));
  check(inviter !== undefined, "invitation inviter is not a device id");
  const id = requireString(payload.id, "invitation id", 32);
  check(fromBase64url(id)?.length === INVITE_ID_BYTES, "invitation id is malformed");
  const secret = fromBase64url(requireString(payload.secret, "invitation secret", 64));
  check(secret?.length === INVITE_SECRET_BYTES, "invitation secret is malformed");
  const addrs = payload.addrs;
  check(
    Array.isArray(addrs) && addrs.length <= MAX_INVITE_ADDRESSES,
    "invitation addresses must be a short list",
  );
  const addresses = addrs.map((address, i) => {
    const text = requireString(address, `invitation address ${i}`, MAX_ADDRESS_LENGTH);
    // The joiner appends paths to it: a port and nothing after it (no path, query or
    // fragment), and no credentials before the host.
    check(
      /^https:\/\/[^/\s?#@]+:\d{1,5}$/.test(text),
      `invitation address ${i} is not https://host:port`,
    );
    return text;
  });
  return {
    zone,
    inviter,
    id,
    secret,
    expiresAt: requireUint(payload.exp, "invitation exp"),
    addresses,
  };
}

/** What the inviting device stores instead of the secret. */
export function hashInviteSecret(secret: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(secret).digest());
}
