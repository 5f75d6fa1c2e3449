/**
 * Changesets: one per local transaction, appended to the author device's own feed.
 *
 *   entry = CBOR [body: bstr, signature: bstr]
 *   body  = CBOR { v: 1, zone, author, seq, prev, hlc: [ms, counter], ops: [[key, value], ...] }
 *
 * `seq` counts from 1 per author; `prev` is the hash of the author's previous body (null
 * for seq 1), so a feed is a hash chain. The signature is Ed25519 by the author's device
 * key over a context label followed by the body bytes exactly as carried in the entry.
 * A value is JSON text; null is a tombstone (a delete).
 */
import { hash } from "node:crypto";
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import { readPlainBody } from "./changeset-body.ts";
import { SIGNATURE_BYTES, type SigningKey, type VerifyKey } from "./ed25519.ts";
import { bytesEqual, concatBytes, utf8 } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";
import { type Hlc, MAX_HLC_COUNTER, MAX_HLC_MS } from "./hlc.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  parseZoneId,
  type ZoneId,
} from "./ids.ts";
import {
  requireBytes,
  requireOnlyFields,
  requireRecord,
  requireString,
  requireUint,
} from "./shape.ts";
import { MAX_KEY_LENGTH, stateKeyProblem } from "./state-key.ts";

export const CHANGESET_VERSION = 1;
export const MAX_CHANGESET_BYTES = 1024 * 1024;
export const MAX_OPS_PER_CHANGESET = 10_000;
export const MAX_VALUE_BYTES = 64 * 1024;
export const HASH_BYTES = 32;
const ID_MAX_LENGTH = 64;
const SIGNATURE_CONTEXT = utf8("bucky changeset v1\n");

export interface Op {
  readonly key: string;
  /** JSON text, or null for a tombstone. */
  readonly value: string | null;
}

export interface ChangesetBody {
  readonly zone: ZoneId;
  readonly author: DeviceId;
  readonly seq: number;
  readonly prev: Uint8Array | null;
  readonly hlc: Hlc;
  readonly ops: readonly Op[];
}

export interface Changeset extends ChangesetBody {
  /** The whole entry as stored and sent. */
  readonly bytes: Uint8Array;
  /** SHA-256 of the body bytes: what the author's next changeset names as `prev`. */
  readonly hash: Uint8Array;
}

export interface DecodedChangeset extends Changeset {
  readonly bodyBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export function signChangeset(body: ChangesetBody, author: SigningKey): Changeset {
  check(
    deviceIdFromPublicKey(author.publicKey) === body.author,
    "a changeset must be signed by its author",
  );
  const bodyBytes = encodeCbor({
    v: CHANGESET_VERSION,
    zone: body.zone,
    author: body.author,
    seq: body.seq,
    prev: body.prev,
    hlc: [cborUint(body.hlc.ms), body.hlc.counter],
    ops: body.ops.map((op) => [op.key, op.value]),
  });
  const signature = author.sign(signingInput(bodyBytes));
  // Decoding what we just signed holds a local write to exactly the limits a peer enforces.
  return decodeChangeset(encodeCbor([bodyBytes, signature]));
}

/** Parses an entry and checks every field against its limit. Does not verify the signature. */
export function decodeChangeset(bytes: Uint8Array): DecodedChangeset {
  if (bytes.length > MAX_CHANGESET_BYTES)
    fail(`changeset is ${bytes.length} bytes; the limit is ${MAX_CHANGESET_BYTES}`);
  const { bodyBytes, signature } = splitCanonicalEntry(bytes) ?? splitAnyEntry(bytes);
  const body: Record<string, unknown> =
    readPlainBody(bodyBytes) ??
    requireRecord(decodeCbor(bodyBytes, MAX_CHANGESET_BYTES, "changeset body"), "changeset body");
  requireOnlyFields(body, BODY_FIELDS, "changeset body");
  if (body.v !== CHANGESET_VERSION) fail(`changeset version ${String(body.v)} is not supported`);
  const zone = idOf(body.zone, "zone", parseZoneId);
  const author = idOf(body.author, "author", parseDeviceId);
  const seq = requireUint(body.seq, "changeset seq");
  check(seq >= 1, "changeset seq starts at 1");
  const prev = body.prev === null ? null : requireBytes(body.prev, "changeset prev", HASH_BYTES);
  check((seq === 1) === (prev === null), "only the first changeset of a feed has no prev");
  return {
    zone,
    author,
    seq,
    prev,
    hlc: decodeHlc(body.hlc),
    ops: decodeOps(body.ops),
    bytes,
    hash: hashBody(bodyBytes),
    bodyBytes,
    signature,
  };
}

const BODY_FIELDS = ["v", "zone", "author", "seq", "prev", "hlc", "ops"];

/**
 * The body and signature of an entry spelled as our encoder spells `[body, signature]`:
 * an array of two, each byte string's length in the shortest form, the signature 64 bytes
 * and nothing after it. Undefined for any other bytes (splitAnyEntry then says what is
 * wrong). Read in place: the hot path of sync, where encoding the pair again to compare
 * cost more than decoding the body.
 */
export function splitCanonicalEntry(
  bytes: Uint8Array,
): { bodyBytes: Uint8Array; signature: Uint8Array } | undefined {
  if (bytes[0] !== 0x82) return undefined;
  const first = bytes[1];
  let length: number;
  let at: number;
  if (first === undefined || first < 0x40 || first > 0x5a) return undefined;
  if (first < 0x58) {
    length = first - 0x40;
    at = 2;
  } else if (first === 0x58) {
    length = bytes[2] ?? 0;
    at = 3;
    if (length < 24) return undefined;
  } else if (first === 0x59) {
    length = ((bytes[2] ?? 0) << 8) | (bytes[3] ?? 0);
    at = 4;
    if (length < 0x100) return undefined;
  } else {
    length =
      (((bytes[2] ?? 0) << 24) |
        ((bytes[3] ?? 0) << 16) |
        ((bytes[4] ?? 0) << 8) |
        (bytes[5] ?? 0)) >>>
      0;
    at = 6;
    if (length < 0x10000) return undefined;
  }
  const signatureAt = at + length + 2;
  if (signatureAt + SIGNATURE_BYTES !== bytes.length) return undefined;
  if (bytes[at + length] !== 0x58 || bytes[at + length + 1] !== SIGNATURE_BYTES) return undefined;
  return {
    bodyBytes: bytes.subarray(at, at + length),
    signature: bytes.subarray(signatureAt),
  };
}

/** An entry in any spelling CBOR allows: refused, saying why, unless it is the canonical one. */
function splitAnyEntry(bytes: Uint8Array): { bodyBytes: Uint8Array; signature: Uint8Array } {
  const entry = decodeCbor(bytes, MAX_CHANGESET_BYTES, "changeset");
  check(Array.isArray(entry) && entry.length === 2, "a changeset is a [body, signature] pair");
  const bodyBytes = entry[0];
  check(bodyBytes instanceof Uint8Array, "changeset body must be a byte string");
  const signature = requireBytes(entry[1], "changeset signature", SIGNATURE_BYTES);
  // One entry has one spelling: a relay that re-wrapped an honest entry (indefinite or
  // long-form lengths) would otherwise make a second entry for the same (author, seq).
  check(
    bytesEqual(encodeCbor([bodyBytes, signature]), bytes),
    "changeset entry is not in canonical CBOR",
  );
  return { bodyBytes, signature };
}

/**
 * Ids already parsed, per kind: a page of changesets names the same zone and a few
 * authors thousands of times, and parsing one decodes its base32. Only ids that parsed
 * are kept, at most ID_MEMO_SIZE of a kind (then that memo starts again).
 */
const ID_MEMO_SIZE = 1024;
const parsedIds = { zone: new Set<string>(), author: new Set<string>() };

function idOf<T extends string>(
  value: unknown,
  field: "zone" | "author",
  parse: (text: string) => T | undefined,
): T {
  const memo = parsedIds[field];
  if (typeof value === "string" && memo.has(value)) return value as T;
  const id = parse(requireString(value, `changeset ${field}`, ID_MAX_LENGTH));
  if (id === undefined)
    fail(`changeset ${field} is not a ${field === "zone" ? "zone" : "device"} id`);
  if (memo.size >= ID_MEMO_SIZE) memo.clear();
  memo.add(id);
  return id;
}

/** Throws ProtocolError unless the author's key signed this entry's body. */
export function verifyChangeset(changeset: DecodedChangeset, authorKey: VerifyKey): void {
  check(
    deviceIdFromPublicKey(authorKey.publicKey) === changeset.author,
    "changeset verified against the wrong key",
  );
  check(
    authorKey.verify(signingInput(changeset.bodyBytes), changeset.signature),
    `changeset ${changeset.author}#${changeset.seq} has a bad signature`,
  );
}

function decodeHlc(value: unknown): Hlc {
  check(Array.isArray(value) && value.length === 2, "changeset hlc is a [ms, counter] pair");
  return {
    ms: requireUint(value[0], "changeset hlc ms", MAX_HLC_MS),
    counter: requireUint(value[1], "changeset hlc counter", MAX_HLC_COUNTER),
  };
}

function decodeOps(value: unknown): Op[] {
  check(Array.isArray(value), "changeset ops must be an array");
  check(value.length >= 1, "a changeset has at least one op");
  if (value.length > MAX_OPS_PER_CHANGESET)
    fail(`a changeset has at most ${MAX_OPS_PER_CHANGESET} ops`);
  // The hot path of sync (every op of every changeset): each message is built only when
  // its check fails, and a few ops' keys are compared with each other rather than put
  // in a set to find one written twice.
  const seen = value.length > FEW_OPS ? new Set<string>() : undefined;
  const ops: Op[] = new Array(value.length);
  for (let index = 0; index < value.length; index++) {
    const op = value[index];
    if (!Array.isArray(op) || op.length !== 2) fail(`op ${index} is a [key, value] pair`);
    const key = op[0];
    if (typeof key !== "string" || key.length > MAX_KEY_LENGTH)
      requireString(key, `op ${index} key`, MAX_KEY_LENGTH);
    const problem = stateKeyProblem(key);
    if (problem !== undefined) fail(`op ${index} key: ${problem}`);
    // One op per key: otherwise which one wins would depend on apply order.
    if (seen ? seen.has(key) : writtenBefore(ops, index, key))
      fail(`op ${index} writes "${key}" a second time`);
    seen?.add(key);
    const text = op[1];
    if (text === null) {
      ops[index] = { key, value: null };
      continue;
    }
    if (typeof text !== "string" || text.length > MAX_VALUE_BYTES)
      requireString(text, `op ${index} value`, MAX_VALUE_BYTES);
    // A UTF-16 code unit is at most 3 bytes of UTF-8: most values need no encoding to count.
    if (text.length * 3 > MAX_VALUE_BYTES && utf8(text).length > MAX_VALUE_BYTES)
      fail(`op ${index} value is over ${MAX_VALUE_BYTES} bytes`);
    if (!isJson(text)) fail(`op ${index} value is not JSON`);
    ops[index] = { key, value: text };
  }
  return ops;
}

/** Up to this many ops, a changeset's keys are checked for repeats without a set. */
const FEW_OPS = 16;

function writtenBefore(ops: readonly Op[], count: number, key: string): boolean {
  for (let i = 0; i < count; i++) if ((ops[i] as Op).key === key) return true;
  return false;
}

function fail(message: string): never {
  throw new ProtocolError(message);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** The exact bytes the author signed: what a verifier checks the signature against. */
export function signingInputOf(changeset: DecodedChangeset): Uint8Array {
  return signingInput(changeset.bodyBytes);
}

function signingInput(bodyBytes: Uint8Array): Uint8Array {
  return concatBytes(SIGNATURE_CONTEXT, bodyBytes);
}

/**
 * One call, not a Hash object fed and digested: every changeset of a page is hashed as it
 * is decoded, and the object (its class, its update and digest calls) cost the main thread
 * of a 10,000 × 10 merge more than the hash itself.
 */
function hashBody(bodyBytes: Uint8Array): Uint8Array {
  return new Uint8Array(hash("sha256", bodyBytes, "buffer"));
}
