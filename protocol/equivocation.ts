/**
 * The proof that a device equivocated: two different changesets it signed with the same
 * seq and the same prev (or both its first), the point where its two histories part. Only
 * a fork point is a proof: two of one seq with different prevs are not where the branches
 * part, and a cut there would leave the changesets below it split. Each half is the entry as its author signed it, so any device checks the proof
 * with the author's key alone, wherever it came from: no device can make one up for
 * another. It travels with sync exchanges (protocol/sync-messages.ts), so every device
 * quarantines the author, not only the one where the two halves met.
 *
 *   proof = CBOR { v: 1, a: bstr, b: bstr }      (a, b: changeset entries, a < b bytewise)
 *
 * The halves are in byte order, so the same two make the same proof whoever made it.
 */
import { decodeCbor, encodeCbor } from "./cbor.ts";
import {
  type DecodedChangeset,
  decodeChangeset,
  MAX_CHANGESET_BYTES,
  verifyChangeset,
} from "./changeset.ts";
import type { VerifyKey } from "./ed25519.ts";
import { bytesEqual } from "./encoding.ts";
import { check } from "./errors.ts";
import type { DeviceId, ZoneId } from "./ids.ts";
import { requireOnlyFields, requireRecord } from "./shape.ts";

export const EQUIVOCATION_VERSION = 1;
/** Two entries at their limit, and the few bytes around them. */
export const MAX_PROOF_BYTES = 2 * MAX_CHANGESET_BYTES + 64;

export interface EquivocationProof {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  readonly seq: number;
  /** The two halves, in byte order. */
  readonly halves: readonly [DecodedChangeset, DecodedChangeset];
  /** The whole proof as stored and sent. */
  readonly bytes: Uint8Array;
}

/**
 * The proof made of two entries; throws ProtocolError unless they are one: a fork point
 * (signatures unchecked).
 */
export function makeProof(one: Uint8Array, other: Uint8Array): EquivocationProof {
  const [a, b] = compareBytes(one, other) <= 0 ? [one, other] : [other, one];
  return decodeProof(encodeCbor({ v: EQUIVOCATION_VERSION, a, b }));
}

/**
 * Parses a proof and checks that its halves are two different changesets of one author,
 * zone and seq. Does not verify the signatures (verifyProof does).
 */
export function decodeProof(bytes: Uint8Array): EquivocationProof {
  const body = requireRecord(decodeCbor(bytes, MAX_PROOF_BYTES, "equivocation proof"), "proof");
  requireOnlyFields(body, ["v", "a", "b"], "equivocation proof");
  check(
    body.v === EQUIVOCATION_VERSION,
    `equivocation proof version ${String(body.v)} is not supported`,
  );
  check(
    body.a instanceof Uint8Array && body.b instanceof Uint8Array,
    "an equivocation proof's halves are byte strings",
  );
  check(compareBytes(body.a, body.b) < 0, "an equivocation proof's halves are in byte order");
  const a = decodeChangeset(body.a);
  const b = decodeChangeset(body.b);
  check(
    a.zone === b.zone && a.author === b.author && a.seq === b.seq,
    "an equivocation proof's halves are of one zone, author and seq",
  );
  check(!bytesEqual(a.hash, b.hash), "an equivocation proof's halves are different changesets");
  // decodeChangeset holds that exactly a first changeset has no prev.
  check(
    a.prev === null ? b.prev === null : b.prev !== null && bytesEqual(a.prev, b.prev),
    "an equivocation proof's halves follow the same changeset (a fork point)",
  );
  return { zone: a.zone, device: a.author, seq: a.seq, halves: [a, b], bytes };
}

/** Throws ProtocolError unless the device's key signed both halves. */
export function verifyProof(proof: EquivocationProof, deviceKey: VerifyKey): void {
  verifyChangeset(proof.halves[0], deviceKey);
  verifyChangeset(proof.halves[1], deviceKey);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] as number) - (b[i] as number);
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}
