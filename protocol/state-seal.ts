/**
 * The seal over a device's zone state at rest: what lets a device tell, cheaply, that the
 * rows of its state database are the ones it wrote itself.
 *
 *   key          = HKDF-SHA256(device seed, salt "bucky", info "bucky state seal v1")
 *   row mac      = HMAC-SHA256(key, table tag ‖ each column, typed and length-prefixed)
 *   table digest = XOR of the row macs of every row of the table
 *   seal mac     = HMAC-SHA256(key, "bucky state seal v1" ‖ device ‖ both digests and row
 *                  counts ‖ own head ‖ verified at ‖ damage)
 *
 * XOR makes a digest independent of row order and lets it follow each write: a row that
 * changes is XORed out as it was and in as it is. Row macs are keyed and never stored, so
 * without the device key nobody can compute what an edited, added or removed row would
 * do to a digest, nor a seal mac for digests they made up. Every column of a row is
 * covered, in the types SQLite hands back (an integer written where text was is a change).
 *
 * This is a format on disk: a change to it is a new version label, never an edit.
 */
import { createHmac, hkdfSync } from "node:crypto";
import { utf8 } from "./encoding.ts";
import { check } from "./errors.ts";

export const SEAL_KEY_BYTES = 32;
export const DIGEST_BYTES = 32;
const LABEL = "bucky state seal v1";
const HKDF_SALT = utf8("bucky");

/**
 * Which table a row is of: the same columns in two tables never give the same mac.
 * `invites` rows are not summed into a digest: each carries its own mac. Rows of
 * `checkpoint_base` (the agreed checkpoint's rows that later writes replaced) are summed
 * like the state's, into a digest the `checkpoint` row keeps under its own mac.
 */
export type SealedTable = "state" | "changesets" | "invites" | "checkpoint_base" | "checkpoint";
const TABLE_TAGS: Record<SealedTable, number> = {
  state: 0x73,
  changesets: 0x63,
  invites: 0x69,
  checkpoint_base: 0x62,
  checkpoint: 0x6b,
};
const SEAL_TAG = 0x53;

/** A value as SQLite returns it. */
export type ColumnValue = null | number | bigint | string | Uint8Array;

export interface SealFields {
  /** The device whose key made the seal (its id). */
  readonly device: string;
  readonly stateDigest: Uint8Array;
  readonly stateRows: number;
  readonly changesetDigest: Uint8Array;
  readonly changesetRows: number;
  /** The row mac of this device's latest changeset, or null before its first. */
  readonly ownHead: Uint8Array | null;
  /** When the state was last verified in full against its changesets (ms), or null. */
  readonly verifiedAt: number | null;
  /** What a check found wrong, kept until the state is mended; null when nothing. */
  readonly damage: string | null;
}

/** The key of the seal: only a holder of the device's seed can make or check one. */
export function deriveSealKey(deviceSeed: Uint8Array): Uint8Array {
  check(deviceSeed.length === 32, "a device seed is 32 bytes");
  return new Uint8Array(hkdfSync("sha256", deviceSeed, HKDF_SALT, utf8(LABEL), SEAL_KEY_BYTES));
}

/** The keyed mac of one row, over every column in order. */
export function rowMac(
  key: Uint8Array,
  table: SealedTable,
  columns: readonly ColumnValue[],
): Uint8Array {
  return hmac(key, encodeColumns(TABLE_TAGS[table], columns));
}

function hmac(key: Uint8Array, message: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(message).digest());
}

/** XORs `mac` into `digest`, in place: adding a row and removing it are the same step. */
export function xorInto(digest: Uint8Array, mac: Uint8Array): void {
  for (let i = 0; i < DIGEST_BYTES; i++) digest[i] = (digest[i] as number) ^ (mac[i] as number);
}

/** The mac of a whole seal record. */
export function sealMac(key: Uint8Array, seal: SealFields): Uint8Array {
  check(
    seal.stateDigest.length === DIGEST_BYTES && seal.changesetDigest.length === DIGEST_BYTES,
    `a digest is ${DIGEST_BYTES} bytes`,
  );
  return hmac(
    key,
    encodeColumns(SEAL_TAG, [
      LABEL,
      seal.device,
      seal.stateDigest,
      seal.stateRows,
      seal.changesetDigest,
      seal.changesetRows,
      seal.ownHead,
      seal.verifiedAt,
      seal.damage,
    ]),
  );
}

/**
 * tag ‖ for each column: a type byte, then an 8-byte number, or a 4-byte length and the
 * bytes (UTF-8 for text). One encoding has one reading, whatever the columns hold.
 *
 * Written into one scratch buffer, grown as needed, and returned as a view of it: valid
 * until the next call, so callers mac it at once.
 */
let scratch = new Uint8Array(4096);
let scratchView = new DataView(scratch.buffer);
const utf8Encoder = new TextEncoder();
/**
 * Text longer than this is written by the encoder (see writeUtf8). Device ids (53
 * characters, in every row a merge writes) are below it: at 48 each went to the encoder
 * through a view made for it, 93 bytes of garbage a row (1 KiB a changeset of ten ops)
 * for no gain in time (the copying loop and the encoder both 0.1 µs at that length).
 */
const LONG_TEXT = 56;

function encodeColumns(tag: number, columns: readonly ColumnValue[]): Uint8Array {
  const bound = 1 + rowMacInputBound(columns);
  if (bound > scratch.length) {
    scratch = new Uint8Array(Math.max(bound, scratch.length * 2));
    scratchView = new DataView(scratch.buffer);
  }
  return scratch.subarray(0, writeColumns(tag, columns, scratch, scratchView, 0));
}

/**
 * At most how many bytes `writeRowMacInput` writes for these columns (besides its first,
 * the table's tag): what a caller's buffer must have room for.
 */
export function rowMacInputBound(columns: readonly ColumnValue[]): number {
  let bound = 0;
  for (const column of columns) {
    if (typeof column === "string") bound += 5 + column.length * 3;
    else if (column instanceof Uint8Array) bound += 5 + column.length;
    else bound += 9;
  }
  return bound;
}

/**
 * The bytes a row's mac covers (HMAC-SHA256 of them under the seal key is `rowMac`),
 * written into `out` (`view` is a DataView of the same buffer) from `at`, where
 * 1 + rowMacInputBound(columns) bytes must fit; returns where they end. For a caller that
 * hashes them where they lie (lib/state/seal.ts): every row a write adds or removes is
 * macced, the hot path of sync.
 */
export function writeRowMacInput(
  table: SealedTable,
  columns: readonly ColumnValue[],
  out: Uint8Array,
  view: DataView,
  at: number,
): number {
  return writeColumns(TABLE_TAGS[table], columns, out, view, at);
}

function writeColumns(
  tag: number,
  columns: readonly ColumnValue[],
  out: Uint8Array,
  view: DataView,
  start: number,
): number {
  let at = start;
  out[at++] = tag;
  for (const column of columns) {
    if (column === null) {
      out[at++] = 0;
    } else if (typeof column === "number") {
      out[at++] = 1;
      view.setFloat64(at, column);
      at += 8;
    } else if (typeof column === "bigint") {
      out[at++] = 2;
      view.setBigInt64(at, BigInt.asIntN(64, column));
      at += 8;
    } else if (typeof column === "string") {
      out[at++] = 3;
      const length = writeUtf8(column, out, at + 4);
      view.setUint32(at, length);
      at += 4 + length;
    } else if (column instanceof Uint8Array) {
      out[at++] = 4;
      view.setUint32(at, column.length);
      out.set(column, at + 4);
      at += 4 + column.length;
    } else {
      check(false, `a column of type ${typeof column} cannot be sealed`);
    }
  }
  return at;
}

/**
 * Writes `text` as UTF-8 at `at` (room for 3 bytes a code unit is there); returns its
 * length. Short text that is all ASCII (keys, ids, small values) is copied a character at
 * a time, which is faster than a UTF-8 encoder call per column; longer text goes to the
 * encoder, which is faster from about 50 characters on (3x at 200 once warm), and more so
 * in a command's first calls, before the copying loop is compiled (a signed document's
 * few hundred characters took 18 µs there, against 2.4).
 */
function writeUtf8(text: string, out: Uint8Array, at: number): number {
  const length = text.length;
  if (length > LONG_TEXT) return utf8Encoder.encodeInto(text, out.subarray(at)).written;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0x7f) return utf8Encoder.encodeInto(text, out.subarray(at)).written;
    out[at + i] = code;
  }
  return length;
}
