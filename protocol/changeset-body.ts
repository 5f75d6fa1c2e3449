/**
 * A changeset body read without the generic CBOR decoder, when it is spelled as our
 * encoder spells it: a map of the seven fields in their order (`v` 1, zone, author, seq,
 * prev, hlc, ops), text all ASCII, no tags, floats or negative numbers. Any other bytes
 * give undefined and are read by the generic decoder, which this must agree with: on bytes
 * it reads, it returns what decodeCbor returns (changeset-body.prop.test.ts).
 *
 * Why: merging a page of small changesets spent a sixth of its main thread in the generic
 * decoder, most of it making strings a character at a time, and the zone and author ids
 * (53 characters each) come again in every changeset. Here the body's text is made by one
 * native call, each string is a slice of it, and an id the same as the last one read is
 * that string again.
 */

/** The bytes of `a7 61 'v' 01 64 'zone'`: a map of 7, `v: 1`, the key `zone`. */
const HEAD = [0xa7, 0x61, 0x76, 0x01, 0x64, 0x7a, 0x6f, 0x6e, 0x65];
const AUTHOR_KEY = keyBytes("author");
const SEQ_KEY = keyBytes("seq");
const PREV_KEY = keyBytes("prev");
const HLC_KEY = keyBytes("hlc");
const OPS_KEY = keyBytes("ops");
const HASH_BYTES = 32;

/** The fields of a body as decodeCbor gives them (a plain object, keys in that order). */
export type PlainBody = {
  v: number;
  zone: string;
  author: string;
  seq: number;
  prev: Uint8Array | null;
  hlc: [number, number];
  ops: [string, string | null][];
};

/** Thrown inside the reader when the bytes are not the plain spelling; never escapes. */
const NOT_PLAIN = Symbol("not plain");

/** The last id read per field: a page names the same zone and a few authors thousands of times. */
const lastIds: { bytes: Uint8Array; text: string }[] = [];

export function readPlainBody(bytes: Uint8Array): PlainBody | undefined {
  try {
    return new Reader(bytes).body();
  } catch (error) {
    if (error === NOT_PLAIN) return undefined;
    throw error;
  }
}

class Reader {
  private at = 0;
  private readonly text: Buffer;
  /** The whole body as Latin-1, made at the first string read: each string is a slice of it. */
  private whole: string | undefined;

  constructor(private readonly bytes: Uint8Array) {
    this.text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  body(): PlainBody {
    this.expect(HEAD);
    const zone = this.id(0);
    this.expect(AUTHOR_KEY);
    const author = this.id(1);
    this.expect(SEQ_KEY);
    const seq = this.uint();
    this.expect(PREV_KEY);
    let prev: Uint8Array | null = null;
    if (this.bytes[this.at] === 0xf6) this.at++;
    else prev = this.hash();
    this.expect(HLC_KEY);
    if (this.byte() !== 0x82) throw NOT_PLAIN;
    const hlc: [number, number] = [this.uint(), this.uint()];
    this.expect(OPS_KEY);
    const count = this.length(0x80);
    // An op takes three bytes at least: a count the bytes left cannot hold is not allocated.
    if (count * 3 > this.bytes.length - this.at) throw NOT_PLAIN;
    const ops: [string, string | null][] = new Array(count);
    for (let i = 0; i < count; i++) {
      if (this.byte() !== 0x82) throw NOT_PLAIN;
      const key = this.string();
      let value: string | null = null;
      if (this.bytes[this.at] === 0xf6) this.at++;
      else value = this.string();
      ops[i] = [key, value];
    }
    // Nothing after the map: the generic decoder says what is wrong with bytes that go on.
    if (this.at !== this.bytes.length) throw NOT_PLAIN;
    return { v: 1, zone, author, seq, prev, hlc, ops };
  }

  private byte(): number {
    const byte = this.bytes[this.at++];
    if (byte === undefined) throw NOT_PLAIN;
    return byte;
  }

  private expect(expected: readonly number[]): void {
    for (const byte of expected) if (this.byte() !== byte) throw NOT_PLAIN;
  }

  /** The argument of an item of major type `major` (its top three bits): a length or a uint. */
  private length(major: number): number {
    const initial = this.byte();
    if ((initial & 0xe0) !== major) throw NOT_PLAIN;
    const info = initial & 0x1f;
    if (info < 24) return info;
    if (info === 24) return this.byte();
    if (info === 25) return this.byte() * 0x100 + this.byte();
    if (info === 26) return this.uint32();
    if (info === 27) {
      const high = this.uint32();
      const low = this.uint32();
      // Past 2^53 a number is not exact: such a uint is left to the generic decoder (and
      // refused by the field checks after it).
      if (high >= 0x200000) throw NOT_PLAIN;
      return high * 0x100000000 + low;
    }
    throw NOT_PLAIN;
  }

  private uint32(): number {
    return ((this.byte() << 24) | (this.byte() << 16) | (this.byte() << 8) | this.byte()) >>> 0;
  }

  private uint(): number {
    return this.length(0x00);
  }

  private hash(): Uint8Array {
    if (this.length(0x40) !== HASH_BYTES) throw NOT_PLAIN;
    const start = this.at;
    this.at += HASH_BYTES;
    if (this.at > this.bytes.length) throw NOT_PLAIN;
    return this.bytes.subarray(start, this.at);
  }

  /** The bounds of a text item, all ASCII. */
  private span(): [number, number] {
    const length = this.length(0x60);
    const start = this.at;
    const end = start + length;
    if (end > this.bytes.length) throw NOT_PLAIN;
    for (let i = start; i < end; i++) if ((this.bytes[i] as number) > 0x7f) throw NOT_PLAIN;
    this.at = end;
    return [start, end];
  }

  private string(): string {
    const [start, end] = this.span();
    // ASCII reads the same as Latin-1, which the runtime copies out in one call, once for
    // the body: a call per key and value cost more than slicing the strings out of it.
    this.whole ??= this.text.toString("latin1");
    return this.whole.slice(start, end);
  }

  private id(field: number): string {
    const [start, end] = this.span();
    const last = lastIds[field];
    if (last && sameBytes(last.bytes, this.bytes, start, end)) return last.text;
    const text = this.text.toString("latin1", start, end);
    lastIds[field] = { bytes: this.bytes.slice(start, end), text };
    return text;
  }
}

function sameBytes(known: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (known.length !== end - start) return false;
  for (let i = 0; i < known.length; i++) if (known[i] !== bytes[start + i]) return false;
  return true;
}

function keyBytes(key: string): number[] {
  // By index, not by spreading the string: this runs as the module loads, in every command.
  const bytes = [0x60 + key.length];
  for (let i = 0; i < key.length; i++) bytes.push(key.charCodeAt(i));
  return bytes;
}
