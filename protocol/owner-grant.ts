/**
 * The owner's consent to one act a member may not do alone, as a compact JWS the owner key
 * signs for the zone (kid = zone id): its type says which act, its payload exactly what.
 * Any member writes the zone state keys such an act is asked in (an app's spec), so a key
 * saying it proves nothing by itself; with a grant inside, it is the owner's act.
 * protocol/app-purge.ts and protocol/app-unsandboxed.ts are the two kinds.
 *
 * Pure.
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import { publicKeyOfId, type ZoneId } from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { requireOnlyFields, requireRecord } from "./shape.ts";

/** A kind of grant: its JWS type, how it is named in errors, its fields, its longest text. */
export interface GrantKind {
  readonly type: string;
  /** "purge grant": said as "not a purge grant", "the purge grant is too long". */
  readonly what: string;
  /** Every field of its payload, `zone` among them. */
  readonly fields: readonly string[];
  readonly maxLength: number;
}

/** Signs `payload` (its `zone` included) as a grant of `kind` by the zone's owner key. */
export function signOwnerGrant(
  kind: GrantKind,
  payload: { readonly zone: ZoneId } & Record<string, unknown>,
  owner: SigningKey,
): string {
  return signJws({ alg: "EdDSA", typ: kind.type, kid: payload.zone }, payload, owner);
}

/**
 * The payload of a grant of `kind` that the owner of `zone` signed, for that zone, with no
 * field but the kind's; throws ProtocolError otherwise. Its fields' values are the caller's
 * to check.
 */
export function verifyOwnerGrant(
  jws: string,
  zone: ZoneId,
  kind: GrantKind,
): Record<string, unknown> {
  const { what } = kind;
  check(jws.length <= kind.maxLength, `the ${what} is too long`);
  const decoded = decodeJws(jws, kind.maxLength);
  check(decoded.header.typ === kind.type, `not a ${what}`);
  check(decoded.header.kid === zone, `the ${what} is not signed by this zone's owner`);
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(zone, "zone") as Uint8Array));
  const payload = requireRecord(decoded.payload, what);
  requireOnlyFields(payload, kind.fields, what);
  check(payload.zone === zone, `the ${what} is for another zone`);
  return payload;
}
