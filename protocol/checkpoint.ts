/**
 * Checkpoints: the zone state at a cut of every device's feed, which the devices agree on
 * so that the changesets it supersedes can go.
 *
 *   body     = CBOR {v: 1, zone, cut, frontier: [[author, seq, hash], ...], keys, digest}
 *   id       = SHA-256 of the body bytes
 *   digest   = SHA-256("bucky checkpoint rows v1\n" ‖ each row, in key order, as CBOR
 *              [key, value | null, hlc ms, hlc counter, author, seq])
 *
 * `frontier` names, for each author (in id order), the last of its changesets the
 * checkpoint covers and that changeset's hash (which the author's next one names as
 * prev); the state at the cut is what every changeset up to the frontier gives, last
 * writer wins, and `digest` is over exactly its rows (tombstones included). `cut` is the
 * time (hybrid logical clock ms) the frontier was taken at: every changeset covered was
 * written no later. A device says it holds a checkpoint by writing its body, under its
 * own key, to `nodes/<device>/checkpoint` (an endorsement): a checkpoint more than half
 * of the zone's devices endorse is agreed.
 *
 * Moving a checkpoint between devices (sync, joining): an offer is the body and the
 * changesets that endorse it; pages carry its rows in key order, and with the first
 * page the changesets it keeps (the frontier's, and those that hold membership).
 *
 *   offer         = CBOR {v: 1, body: bstr, endorsements: [changeset bytes, ...]}
 *   page request  = CBOR {v: 1, id: bstr, after: key}
 *   page          = CBOR {v: 1, authors: [id, ...], rows: [[key, value | null, hlc ms, hlc counter,
 *                   author index, seq], ...], changesets: [bytes, ...], more: bool}
 *
 * These are formats on the wire and on disk: a change to one is a new version.
 */
import { createHash } from "node:crypto";
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import {
  type ChangesetBody,
  HASH_BYTES,
  MAX_CHANGESET_BYTES,
  MAX_VALUE_BYTES,
} from "./changeset.ts";
import { bytesEqual, fromBase64url, fromHex, toBase64url, toHex, utf8 } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";
import { MAX_HLC_COUNTER, MAX_HLC_MS } from "./hlc.ts";
import { type DeviceId, parseDeviceId, parseZoneId, type ZoneId } from "./ids.ts";
import { isRevocationKey, revocationPrecedence } from "./revocation-order.ts";
import {
  isRecord,
  requireBytes,
  requireOnlyFields,
  requireRecord,
  requireString,
  requireUint,
} from "./shape.ts";
import { MAX_KEY_LENGTH, stateKeyProblem } from "./state-key.ts";

export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_ID_BYTES = 32;
/** A body names at most this many authors. */
export const MAX_FRONTIER_AUTHORS = 10_000;
export const MAX_CHECKPOINT_BODY_BYTES = 1024 * 1024;
export const MAX_OFFER_BYTES = 4 * 1024 * 1024;
export const MAX_ENDORSEMENTS = 1000;
/** A page of rows stops growing past this size. */
export const CHECKPOINT_PAGE_BYTES = 4 * 1024 * 1024;
export const MAX_CHECKPOINT_PAGE_BYTES = 16 * 1024 * 1024;
const ID_MAX_LENGTH = 64;
const ROWS_LABEL = utf8("bucky checkpoint rows v1\n");

/** One row of the state: key, value (JSON text, null for a tombstone), hlc ms, hlc counter, author, seq. */
export type CheckpointRow = readonly [string, string | null, number, number, string, number];

export interface FrontierEntry {
  readonly author: DeviceId;
  readonly seq: number;
  readonly hash: Uint8Array;
}

export interface CheckpointBody {
  readonly zone: ZoneId;
  /** Every changeset covered was written at or before this time (hlc ms). */
  readonly cut: number;
  /** Per author, in id order: the last changeset covered, and its hash. */
  readonly frontier: readonly FrontierEntry[];
  /** How many rows the state at the frontier has. */
  readonly keys: number;
  readonly digest: Uint8Array;
}

export interface Checkpoint extends CheckpointBody {
  /** The body exactly as encoded: what its id hashes and endorsements carry. */
  readonly bytes: Uint8Array;
  /** SHA-256 of the body bytes, hex. */
  readonly id: string;
}

export function encodeCheckpoint(body: CheckpointBody): Checkpoint {
  // Decoding what was just made holds it to exactly the limits a peer checks.
  return decodeCheckpoint(encodeBody(body));
}

/** Parses a body and checks every field against its limit. */
export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const body = requireRecord(
    decodeCbor(bytes, MAX_CHECKPOINT_BODY_BYTES, "checkpoint"),
    "checkpoint",
  );
  requireOnlyFields(body, ["v", "zone", "cut", "frontier", "keys", "digest"], "checkpoint");
  check(body.v === CHECKPOINT_VERSION, `checkpoint version ${String(body.v)} is not supported`);
  const zone = parseZoneId(requireString(body.zone, "checkpoint zone", ID_MAX_LENGTH));
  check(zone !== undefined, "checkpoint zone is not a zone id");
  check(Array.isArray(body.frontier), "checkpoint frontier must be an array");
  check(
    body.frontier.length <= MAX_FRONTIER_AUTHORS,
    `a checkpoint names at most ${MAX_FRONTIER_AUTHORS} authors`,
  );
  let previous = "";
  const frontier = (body.frontier as unknown[]).map((entry, index): FrontierEntry => {
    check(Array.isArray(entry) && entry.length === 3, `frontier entry ${index} is a triple`);
    const author = parseDeviceId(requireString(entry[0], "frontier author", ID_MAX_LENGTH));
    check(author !== undefined, `frontier entry ${index} names no device`);
    check(author > previous, "frontier authors must be in increasing order, each once");
    previous = author;
    const seq = requireUint(entry[1], "frontier seq");
    check(seq >= 1, "a frontier seq starts at 1");
    return { author, seq, hash: requireBytes(entry[2], "frontier hash", HASH_BYTES) };
  });
  const checkpoint: Checkpoint = {
    zone,
    cut: requireUint(body.cut, "checkpoint cut", MAX_HLC_MS),
    frontier,
    keys: requireUint(body.keys, "checkpoint keys"),
    digest: requireBytes(body.digest, "checkpoint digest", 32),
    bytes,
    id: toHex(sha256(bytes)),
  };
  // One checkpoint has one spelling, so its id names one body.
  check(bytesEqual(encodeBody(checkpoint), bytes), "checkpoint is not in canonical CBOR");
  return checkpoint;
}

function encodeBody(body: CheckpointBody): Uint8Array {
  return encodeCbor({
    v: CHECKPOINT_VERSION,
    zone: body.zone,
    cut: cborUint(body.cut),
    frontier: body.frontier.map((entry) => [entry.author, entry.seq, entry.hash]),
    keys: body.keys,
    digest: body.digest,
  });
}

/** The frontier as a map from author to the last seq covered. */
export function frontierSeqs(checkpoint: Pick<CheckpointBody, "frontier">): Map<string, number> {
  return new Map(checkpoint.frontier.map((entry) => [entry.author, entry.seq]));
}

/**
 * The digest of a state's rows, fed one row at a time in increasing key order (a row out
 * of order is refused: two spellings of one state must not give two digests).
 */
export class RowsDigest {
  private readonly hash = createHash("sha256").update(ROWS_LABEL);
  private last: string | undefined;
  private count = 0;

  add(row: CheckpointRow): void {
    check(
      this.last === undefined || row[0] > this.last,
      `checkpoint rows out of order at ${row[0]}`,
    );
    this.last = row[0];
    this.count++;
    this.hash.update(encodeRow(row));
  }

  get keys(): number {
    return this.count;
  }

  finish(): Uint8Array {
    return new Uint8Array(this.hash.digest());
  }
}

function encodeRow(row: CheckpointRow): Uint8Array {
  return encodeCbor([row[0], row[1], cborUint(row[2]), row[3], row[4], row[5]]);
}

/**
 * Checks one row of a page as it came from a peer, every field within its limits; its
 * author is an index into the page's `authors`, checked already.
 */
function decodeRow(value: unknown, authors: readonly string[]): CheckpointRow {
  // The hot path of a join (one call per key): no message is built unless one fails.
  if (!Array.isArray(value) || value.length !== 6) throw new ProtocolError("has six fields");
  const [key, text, ms, counter, authorIndex, seq] = value as unknown[];
  if (typeof key !== "string" || key.length > MAX_KEY_LENGTH)
    throw new ProtocolError("its key is not a string of at most 512 characters");
  const problem = stateKeyProblem(key);
  if (problem !== undefined) throw new ProtocolError(`its key: ${problem}`);
  if (text !== null) {
    if (typeof text !== "string" || Buffer.byteLength(text) > MAX_VALUE_BYTES)
      throw new ProtocolError(`its value is not a string of at most ${MAX_VALUE_BYTES} bytes`);
    if (!isJson(text)) throw new ProtocolError("its value is not JSON");
  }
  if (!isUint(ms, MAX_HLC_MS) || !isUint(counter, MAX_HLC_COUNTER))
    throw new ProtocolError("its clock is out of range");
  const author = typeof authorIndex === "number" ? authors[authorIndex] : undefined;
  if (author === undefined) throw new ProtocolError("it names no author of the page");
  if (!isUint(seq, Number.MAX_SAFE_INTEGER) || seq < 1)
    throw new ProtocolError("its seq is not a whole number from 1");
  return [key, text, ms, counter, author, seq];
}

function isUint(value: unknown, max: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= max;
}

/** The rows a changeset's ops write to the state, one per op. */
export function rowsOf(changeset: ChangesetBody & { readonly seq: number }): CheckpointRow[] {
  return changeset.ops.map((op) => [
    op.key,
    op.value,
    changeset.hlc.ms,
    changeset.hlc.counter,
    changeset.author,
    changeset.seq,
  ]);
}

/**
 * Whether row `a` wins over row `b` for the same key: later clock, then greater author;
 * of a device's revocation, the one keeping less first (protocol/revocation-order.ts).
 */
export function rowWins(a: CheckpointRow, b: CheckpointRow): boolean {
  if (isRevocationKey(a[0])) {
    const precedence = revocationPrecedence(a[1], b[1]);
    if (precedence !== 0) return precedence > 0;
  }
  if (a[2] !== b[2]) return a[2] > b[2];
  if (a[3] !== b[3]) return a[3] > b[3];
  return a[4] > b[4];
}

// ---- Endorsements: what a device writes to the zone state to say it holds a checkpoint.

/** The state key a device endorses checkpoints under (its own: only it may write it). */
export function endorsementKey(device: string): string {
  return `nodes/${device}/checkpoint`;
}

/** An endorsement as the zone state holds it: the checkpoint's id, cut and body. */
export function endorsementValue(checkpoint: Checkpoint): string {
  return JSON.stringify({
    id: checkpoint.id,
    cut: checkpoint.cut,
    body: toBase64url(checkpoint.bytes),
  });
}

/** The checkpoint an endorsement names, or undefined when the value is not one. */
export function readEndorsement(value: string | null): Checkpoint | undefined {
  if (value === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (!isRecord(parsed) || typeof parsed.body !== "string" || typeof parsed.id !== "string")
      return undefined;
    const bytes = fromBase64url(parsed.body);
    if (!bytes) return undefined;
    const checkpoint = decodeCheckpoint(bytes);
    return checkpoint.id === parsed.id && checkpoint.cut === parsed.cut ? checkpoint : undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

// ---- Moving a checkpoint between devices.

export interface CheckpointOffer {
  readonly checkpoint: Checkpoint;
  /** Changesets that endorse it (each writes its author's endorsement of this id). */
  readonly endorsements: readonly Uint8Array[];
}

export function encodeOffer(offer: CheckpointOffer): Uint8Array {
  return encodeCbor({
    v: CHECKPOINT_VERSION,
    body: offer.checkpoint.bytes,
    endorsements: offer.endorsements,
  });
}

export function decodeOffer(bytes: Uint8Array): CheckpointOffer {
  const offer = requireRecord(decodeCbor(bytes, MAX_OFFER_BYTES, "checkpoint offer"), "offer");
  check(offer.v === CHECKPOINT_VERSION, `checkpoint offer version ${String(offer.v)}`);
  check(offer.body instanceof Uint8Array, "a checkpoint offer carries a body");
  check(Array.isArray(offer.endorsements), "checkpoint endorsements must be an array");
  check(
    offer.endorsements.length <= MAX_ENDORSEMENTS,
    `a checkpoint offer carries at most ${MAX_ENDORSEMENTS} endorsements`,
  );
  for (const endorsement of offer.endorsements)
    check(
      endorsement instanceof Uint8Array && endorsement.length <= MAX_CHANGESET_BYTES,
      "an endorsement is a changeset",
    );
  return {
    checkpoint: decodeCheckpoint(offer.body),
    endorsements: offer.endorsements as Uint8Array[],
  };
}

export interface PageRequest {
  readonly id: string;
  /** The last key already received ("" for the first page). */
  readonly after: string;
}

export function encodePageRequest(request: PageRequest): Uint8Array {
  const id = fromHex(request.id);
  check(id !== undefined && id.length === CHECKPOINT_ID_BYTES, "a checkpoint id is 32 bytes");
  return encodeCbor({ v: CHECKPOINT_VERSION, id, after: request.after });
}

export function decodePageRequest(bytes: Uint8Array): PageRequest {
  const request = requireRecord(decodeCbor(bytes, 4096, "checkpoint page request"), "request");
  check(request.v === CHECKPOINT_VERSION, `checkpoint request version ${String(request.v)}`);
  return {
    id: toHex(requireBytes(request.id, "checkpoint id", CHECKPOINT_ID_BYTES)),
    after: requireString(request.after, "checkpoint page cursor", MAX_KEY_LENGTH),
  };
}

export interface CheckpointPage {
  readonly rows: readonly CheckpointRow[];
  /** The changesets the checkpoint keeps (with the first page only). */
  readonly changesets: readonly Uint8Array[];
  readonly more: boolean;
}

export function encodePage(page: CheckpointPage): Uint8Array {
  // Each author once (a page names few, each many times over), rows naming them by index.
  const authors = new Map<string, number>();
  const rows = page.rows.map((row) => {
    let index = authors.get(row[4]);
    if (index === undefined) {
      index = authors.size;
      authors.set(row[4], index);
    }
    return [row[0], row[1], cborUint(row[2]), row[3], index, row[5]];
  });
  return encodeCbor({
    v: CHECKPOINT_VERSION,
    authors: [...authors.keys()],
    rows,
    changesets: page.changesets,
    more: page.more,
  });
}

export function decodePage(bytes: Uint8Array): CheckpointPage {
  const page = requireRecord(
    decodeCbor(bytes, MAX_CHECKPOINT_PAGE_BYTES, "checkpoint page"),
    "checkpoint page",
  );
  check(page.v === CHECKPOINT_VERSION, `checkpoint page version ${String(page.v)}`);
  check(Array.isArray(page.rows), "checkpoint rows must be an array");
  check(Array.isArray(page.changesets), "checkpoint changesets must be an array");
  check(typeof page.more === "boolean", "checkpoint page more must be a boolean");
  for (const changeset of page.changesets)
    check(
      changeset instanceof Uint8Array && changeset.length <= MAX_CHANGESET_BYTES,
      "a kept changeset is a byte string",
    );
  check(Array.isArray(page.authors), "checkpoint authors must be an array");
  check(page.authors.length <= MAX_FRONTIER_AUTHORS, "a page names too many authors");
  const authors = (page.authors as unknown[]).map((author) => {
    const id = parseDeviceId(requireString(author, "checkpoint page author", ID_MAX_LENGTH));
    check(id !== undefined, "a checkpoint page names an author that is not a device id");
    return id;
  });
  return {
    rows: (page.rows as unknown[]).map((row, index) => {
      try {
        return decodeRow(row, authors);
      } catch (error) {
        if (error instanceof ProtocolError)
          throw new ProtocolError(`checkpoint row ${index} ${error.message}`);
        throw error;
      }
    }),
    changesets: page.changesets as Uint8Array[],
    more: page.more,
  };
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
