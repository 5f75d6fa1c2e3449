/**
 * Changesets round-trip any valid body, and the key property of the format: no single bit
 * of an entry can change without decoding or verification refusing it.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { encodeCbor } from "./cbor.ts";
import {
  type ChangesetBody,
  decodeChangeset,
  signChangeset,
  splitCanonicalEntry,
  verifyChangeset,
} from "./changeset.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { toHex } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { MAX_HLC_COUNTER, MAX_HLC_MS } from "./hlc.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

const segment = fc
  .string({
    unit: fc.constantFrom(..."abcXYZ019_.:@-"),
    minLength: 1,
    maxLength: 12,
  })
  .filter((text) => text !== "." && text !== "..");
const stateKey = fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => parts.join("/"));
const value = fc.oneof(
  { weight: 4, arbitrary: fc.json({ maxDepth: 3, stringUnit: "grapheme" }) },
  { weight: 1, arbitrary: fc.constant(null) },
);
const ops = fc.uniqueArray(fc.record({ key: stateKey, value }), {
  minLength: 1,
  maxLength: 20,
  selector: (op) => op.key,
});
const feedPosition = fc.oneof(
  fc.constant({ seq: 1, prev: null }),
  fc.record({ seq: fc.integer({ min: 2, max: Number.MAX_SAFE_INTEGER }), prev: bytes32 }),
);
const hlc = fc.record({
  ms: fc.oneof(fc.nat(MAX_HLC_MS), fc.constant(MAX_HLC_MS)),
  counter: fc.nat(MAX_HLC_COUNTER),
});

/** A device key and a valid body it authored. */
const authored = fc
  .record({ deviceSeed: bytes32, zoneKey: bytes32, position: feedPosition, hlc, ops })
  .map(({ deviceSeed, zoneKey, position, hlc: clock, ops: writes }) => {
    const key = signingKeyFromSeed(deviceSeed);
    const body: ChangesetBody = {
      zone: zoneIdFromPublicKey(zoneKey),
      author: deviceIdFromPublicKey(key.publicKey),
      seq: position.seq,
      prev: position.prev,
      hlc: clock,
      ops: writes,
    };
    return { key, body };
  });

function errorOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** Decodes and verifies; returns what was thrown, or undefined when the entry is accepted. */
function rejectionOf(entry: Uint8Array, publicKey: Uint8Array): unknown {
  return errorOf(() => verifyChangeset(decodeChangeset(entry), verifyKeyFromPublicKey(publicKey)));
}

function flipBit(entry: Uint8Array, bit: number): Uint8Array {
  const changed = Uint8Array.from(entry);
  changed[bit >> 3] = (changed[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return changed;
}

describe("changesets round-trip", () => {
  test("decoding a signed changeset gives back its body, and it verifies", () => {
    fc.assert(
      fc.property(authored, ({ key, body }) => {
        const signed = signChangeset(body, key);
        const decoded = decodeChangeset(signed.bytes);
        expect(decoded.zone).toBe(body.zone);
        expect(decoded.author).toBe(body.author);
        expect(decoded.seq).toBe(body.seq);
        expect(decoded.prev).toEqual(body.prev);
        expect(decoded.hlc).toEqual(body.hlc);
        expect(decoded.ops).toEqual(body.ops);
        expect(toHex(decoded.hash)).toBe(toHex(signed.hash));
        const hash = new Bun.CryptoHasher("sha256").update(decoded.bodyBytes).digest("hex");
        expect(toHex(decoded.hash)).toBe(hash);
        expect(rejectionOf(signed.bytes, key.publicKey)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  test("signing is deterministic: the same body gives the same bytes", () => {
    fc.assert(
      fc.property(authored, ({ key, body }) => {
        expect(toHex(signChangeset(body, key).bytes)).toBe(toHex(signChangeset(body, key).bytes));
      }),
      { numRuns: 100 },
    );
  });
});

describe("any single bit flip in an entry is refused", () => {
  test("at any bit of any changeset", () => {
    fc.assert(
      fc.property(authored, fc.nat(), ({ key, body }, position) => {
        const { bytes } = signChangeset(body, key);
        const changed = flipBit(bytes, position % (bytes.length * 8));
        expect(rejectionOf(changed, key.publicKey)).toBeInstanceOf(ProtocolError);
        // The flip changed a copy: the original entry is still accepted.
        expect(rejectionOf(bytes, key.publicKey)).toBeUndefined();
      }),
      { numRuns: 5000 },
    );
  });

  test("at every bit of one changeset", () => {
    const key = signingKeyFromSeed(new Uint8Array(32).fill(0x22));
    const { bytes } = signChangeset(
      {
        zone: zoneIdFromPublicKey(new Uint8Array(32).fill(0x11)),
        author: deviceIdFromPublicKey(key.publicKey),
        seq: 2,
        prev: new Uint8Array(32).fill(0xab),
        hlc: { ms: 1_767_225_600_000, counter: 7 },
        ops: [
          { key: "devices/laptop/info", value: '{"online":true,"n":[1,2.5,null]}' },
          { key: "system/old", value: null },
        ],
      },
      key,
    );
    const accepted: number[] = [];
    let badSignatures = 0;
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const error = rejectionOf(flipBit(bytes, bit), key.publicKey);
      if (!(error instanceof ProtocolError)) accepted.push(bit);
      else if (error.message.endsWith("has a bad signature")) badSignatures++;
    }
    expect(accepted).toEqual([]);
    expect(rejectionOf(bytes, key.publicKey)).toBeUndefined();
    // Flips that still decode reach the signature check: the signature is what refuses
    // them, not a decoder that refuses everything.
    expect(badSignatures).toBeGreaterThan(bytes.length);
  });

  test("a truncated or extended entry is refused", () => {
    fc.assert(
      fc.property(
        authored,
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        ({ key, body }, cut, extra) => {
          const { bytes } = signChangeset(body, key);
          const truncated = bytes.subarray(0, cut % bytes.length);
          expect(errorOf(() => decodeChangeset(truncated))).toBeInstanceOf(ProtocolError);
          const extended = new Uint8Array([...bytes, ...extra]);
          expect(errorOf(() => decodeChangeset(extended))).toBeInstanceOf(ProtocolError);
        },
      ),
      { numRuns: 300 },
    );
  });

  test("an entry verified under any other key is refused", () => {
    fc.assert(
      fc.property(authored, bytes32, ({ key, body }, otherSeed) => {
        const other = signingKeyFromSeed(otherSeed);
        fc.pre(toHex(other.publicKey) !== toHex(key.publicKey));
        const { bytes } = signChangeset(body, key);
        expect(rejectionOf(bytes, other.publicKey)).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 200 },
    );
  });
});

describe("an entry is split in place exactly when it is in canonical CBOR", () => {
  // Lengths on each side of every boundary of CBOR's length forms, and some between; a
  // body's bytes are a fill and a few at random (large ones cost too much to draw whole).
  const bodyLength = fc.oneof(
    fc.constantFrom(0, 1, 23, 24, 25, 255, 256, 257, 65_535, 65_536, 65_537),
    fc.nat(400),
  );
  const body = fc
    .tuple(bodyLength, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 16 }))
    .map(([length, fill, head]) => {
      const bytes = new Uint8Array(length).fill(fill);
      bytes.set(head.subarray(0, length));
      return bytes;
    });
  const pair = fc.record({ body, signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) });
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  /** A byte string's head with its length in the form given (0: in the head, 1–4: 1, 2, 4, 8 bytes). */
  const lengthForm = fc.integer({ min: 0, max: 4 });
  function byteStringHead(length: number, form: number): number[] {
    if (form === 0 && length < 24) return [0x40 + length];
    const size = [1, 1, 2, 4, 8][form] as number;
    if (length >= 2 ** (8 * size)) return byteStringHead(length, form + 1);
    const bytes = Array.from(
      { length: size },
      (_, i) => Math.floor(length / 2 ** (8 * (size - 1 - i))) % 256,
    );
    return [0x57 + Math.log2(size) + 1, ...bytes];
  }

  test("any [body, signature] our encoder writes is split into the same two", () => {
    fc.assert(
      fc.property(pair, ({ body, signature }) => {
        const split = splitCanonicalEntry(encodeCbor([body, signature]));
        expect(split !== undefined && same(split.bodyBytes, body)).toBe(true);
        expect(split !== undefined && same(split.signature, signature)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("whatever it splits, our encoder writes back as the very same bytes", () => {
    // Canonical entries with a few bytes changed, cut or added, and bytes at random: the
    // split accepts only what encoding its two parts gives back, so it never takes an
    // entry the full decoder's canonical check would refuse.
    const nearEntry = fc.oneof(
      fc
        .tuple(
          pair,
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        )
        .map(([{ body, signature }, changes]) => {
          const bytes = Uint8Array.from(encodeCbor([body, signature]));
          for (const [at, value] of changes) bytes[at % bytes.length] = value;
          return bytes;
        }),
      fc
        .tuple(pair, fc.nat(), fc.uint8Array({ maxLength: 4 }))
        .map(([{ body, signature }, cut, extra]) => {
          const bytes = encodeCbor([body, signature]);
          return new Uint8Array([...bytes.subarray(0, cut % (bytes.length + 1)), ...extra]);
        }),
      fc.uint8Array({ maxLength: 200 }).map((rest) => new Uint8Array([0x82, ...rest])),
      // Both lengths in any of CBOR's forms, shortest or not.
      fc
        .tuple(pair, lengthForm, lengthForm)
        .map(([{ body, signature }, bodyForm, sigForm]) =>
          Uint8Array.from([
            0x82,
            ...byteStringHead(body.length, bodyForm),
            ...body,
            ...byteStringHead(64, sigForm),
            ...signature,
          ]),
        ),
    );
    let split = 0;
    let refused = 0;
    fc.assert(
      fc.property(nearEntry, (bytes) => {
        const parts = splitCanonicalEntry(bytes);
        if (!parts) {
          refused++;
          return;
        }
        split++;
        expect(same(encodeCbor([parts.bodyBytes, parts.signature]), bytes)).toBe(true);
      }),
      { numRuns: 1000 },
    );
    // Enough of both kinds must have been tried.
    expect(split).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(100);
  });
});
