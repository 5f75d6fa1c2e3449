/**
 * The plain reader of changeset bodies agrees with the generic CBOR decoder: on any bytes
 * it reads (signed bodies, bodies spelled otherwise, bytes altered at random) it gives
 * what decodeCbor gives, and it reads the bodies our encoder writes with ASCII text.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import { MAX_CHANGESET_BYTES } from "./changeset.ts";
import { type PlainBody, readPlainBody } from "./changeset-body.ts";
import { toHex } from "./encoding.ts";

/** Byte strings as hex, so a Buffer and a Uint8Array of the same bytes compare equal. */
function comparable(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: toHex(value) };
  if (Array.isArray(value)) return value.map(comparable);
  if (value !== null && typeof value === "object")
    return Object.entries(value).map(([key, field]) => [key, comparable(field)]);
  return value;
}

function genericRead(bytes: Uint8Array): { value: unknown } | { error: unknown } {
  try {
    return { value: decodeCbor(bytes, MAX_CHANGESET_BYTES, "changeset body") };
  } catch (error) {
    return { error };
  }
}

/** What the plain reader gives, when it reads `bytes`, is what the generic decoder gives. */
function expectAgreement(bytes: Uint8Array): boolean {
  const plain = readPlainBody(bytes);
  if (plain === undefined) return false;
  const generic = genericRead(bytes);
  expect(generic).toHaveProperty("value");
  expect(comparable(plain)).toEqual(comparable((generic as { value: unknown }).value));
  return true;
}

const ascii = (maxLength: number) =>
  fc.string({
    unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)),
    maxLength,
  });
const text = (maxLength: number) =>
  fc.oneof(ascii(maxLength), fc.string({ unit: "binary", maxLength }));
const uint = fc.oneof(
  fc.constantFrom(0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1),
  fc.nat(),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Bodies as a signer writes them (ASCII text, or any text). */
const body = fc.record({
  zone: fc.oneof(ascii(60), text(60)),
  author: fc.oneof(ascii(60), text(60)),
  seq: uint,
  prev: fc.oneof(fc.constant(null), bytes32),
  hlc: fc.tuple(uint, uint),
  ops: fc.array(fc.tuple(text(300), fc.oneof(fc.constant(null), text(300))), {
    maxLength: 30,
  }),
});

function encodeBody(fields: Omit<PlainBody, "v">): Uint8Array {
  return encodeCbor({
    v: 1,
    zone: fields.zone,
    author: fields.author,
    seq: cborUint(fields.seq),
    prev: fields.prev,
    hlc: [cborUint(fields.hlc[0]), cborUint(fields.hlc[1])],
    ops: fields.ops,
  });
}

function isAscii(value: string): boolean {
  return [...value].every((c) => c.charCodeAt(0) <= 0x7f);
}

describe("the plain reader of changeset bodies", () => {
  test("reads every body our encoder writes with ASCII text, as the generic decoder does", () => {
    fc.assert(
      fc.property(body, (fields) => {
        const bytes = encodeBody(fields);
        const allAscii = [fields.zone, fields.author, ...fields.ops.flat()].every(
          (value) => value === null || isAscii(value),
        );
        expect(expectAgreement(bytes)).toBe(allAscii);
      }),
      { numRuns: 1000 },
    );
  });

  test("agrees with the generic decoder on bodies altered at random, or gives way to it", () => {
    fc.assert(
      fc.property(
        body,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        fc.uint8Array({ maxLength: 4 }),
        (fields, changes, cut, extra) => {
          const bytes = encodeBody(fields);
          const changed = Uint8Array.from(bytes);
          for (const [at, byte] of changes) changed[at % changed.length] = byte;
          expectAgreement(changed);
          expectAgreement(bytes.subarray(0, cut % bytes.length));
          expectAgreement(new Uint8Array([...bytes, ...extra]));
        },
      ),
      { numRuns: 3000 },
    );
  });

  test("agrees on maps spelled otherwise: fields missing, added, moved or of other types", () => {
    const field = fc.oneof(
      uint,
      fc.integer({ min: -1000, max: -1 }),
      fc.double(),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      text(70),
      fc.constant(null),
      fc.boolean(),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(fc.oneof(uint, text(10), fc.constant(null)), { maxLength: 3 }),
    );
    fc.assert(
      fc.property(
        body,
        fc.array(
          fc.tuple(fc.constantFrom("v", "zone", "author", "seq", "prev", "hlc", "ops", "x"), field),
          { maxLength: 3 },
        ),
        fc.boolean(),
        (fields, replaced, reversed) => {
          const map: Record<string, unknown> = {
            v: 1,
            zone: fields.zone,
            author: fields.author,
            seq: fields.seq,
            prev: fields.prev,
            hlc: fields.hlc,
            ops: fields.ops,
          };
          for (const [name, value] of replaced) map[name] = value;
          const ordered = reversed ? Object.fromEntries(Object.entries(map).reverse()) : map;
          expectAgreement(encodeCbor(ordered));
        },
      ),
      { numRuns: 2000 },
    );
  });

  test("an op count the bytes cannot hold is not read (nor allocated)", () => {
    const bytes = encodeBody({
      zone: "z",
      author: "a",
      seq: 1,
      prev: null,
      hlc: [1, 0],
      ops: [["k", "1"]],
    });
    // `ops: [...]` is the last item: its header 0x81 becomes a count of 2^53 - 1.
    const at = bytes.lastIndexOf(0x81);
    const huge = new Uint8Array([
      ...bytes.subarray(0, at),
      0x9b,
      0x00,
      0x1f,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      ...bytes.subarray(at + 1),
    ]);
    expect(readPlainBody(huge)).toBeUndefined();
    expect(readPlainBody(bytes)).toBeDefined();
  });
});
