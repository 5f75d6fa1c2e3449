/**
 * Pair keys: both devices make the same key, one key each way and per purpose, nobody
 * else can make it, and it is what X25519 + HKDF give by an independent implementation.
 */
import { describe, expect, test } from "bun:test";
import { hkdfSync } from "node:crypto";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toHex, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { type DeviceId, deviceIdFromPublicKey } from "./ids.ts";
import { PairKeys } from "./pair-key.ts";

const seeds = [1, 2, 3].map((n) => new Uint8Array(32).fill(n));
const [a, b, c] = seeds.map((seed) => deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey));
const [keysA, keysB, keysC] = seeds.map((seed, i) => new PairKeys(seed, [a, b, c][i] as DeviceId));
const A = a as DeviceId;
const B = b as DeviceId;
const C = c as DeviceId;

/** Any 32 bytes, often one of the encodings of small order (either sign) or past p. */
const weakKeys = [
  `00${"00".repeat(31)}`,
  `01${"00".repeat(31)}`,
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  `ec${"ff".repeat(30)}7f`,
  `ed${"ff".repeat(30)}7f`,
  `ee${"ff".repeat(30)}7f`,
  `ff${"ff".repeat(30)}7f`,
].flatMap((hex) => {
  const key = Buffer.from(hex, "hex");
  const signed = Buffer.from(key);
  signed[31] = (signed[31] ?? 0) | 0x80;
  return [new Uint8Array(key), new Uint8Array(signed)];
});
const anyKey = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }),
  fc.constantFrom(...weakKeys),
);

describe("PairKeys", () => {
  test("the two devices make the same key", () => {
    expect(toHex(keysA?.key(A, B, "test") as Uint8Array)).toBe(
      toHex(keysB?.key(A, B, "test") as Uint8Array),
    );
  });

  test("is X25519 of the mapped keys through HKDF, as @noble/curves computes it", () => {
    const shared = x25519.getSharedSecret(
      ed25519.utils.toMontgomerySecret(seeds[0] as Uint8Array),
      ed25519.utils.toMontgomery(signingKeyFromSeed(seeds[1] as Uint8Array).publicKey),
    );
    const salt = Buffer.concat([
      signingKeyFromSeed(seeds[0] as Uint8Array).publicKey,
      signingKeyFromSeed(seeds[1] as Uint8Array).publicKey,
    ]);
    const expected = hkdfSync("sha256", shared, salt, utf8("bucky pair key v1\ntest"), 32);
    expect(toHex(keysA?.key(A, B, "test") as Uint8Array)).toBe(toHex(new Uint8Array(expected)));
  });

  test("its secret is made when first needed, from the seed as it was given", () => {
    const given = new Uint8Array(32).fill(1);
    const keys = new PairKeys(given, A);
    given.fill(9);
    expect(toHex(keys.key(A, B, "test"))).toBe(toHex(keysB?.key(A, B, "test") as Uint8Array));
  });

  test("one key each way, and one per purpose", () => {
    const made = [
      keysA?.key(A, B, "test"),
      keysA?.key(B, A, "test"),
      keysA?.key(A, B, "other"),
      keysA?.key(A, C, "test"),
    ].map((key) => toHex(key as Uint8Array));
    expect(new Set(made).size).toBe(4);
  });

  test("a third device cannot make the key of a pair it is not in", () => {
    expect(() => keysC?.key(A, B, "test")).toThrow(ProtocolError);
    // What it can make, with either of them, is another key.
    expect(toHex(keysC?.key(C, B, "test") as Uint8Array)).not.toBe(
      toHex(keysA?.key(A, B, "test") as Uint8Array),
    );
  });

  test("any device id at all makes a key or is refused as a ProtocolError, never worse", () => {
    fc.assert(
      fc.property(anyKey, fc.boolean(), (key, from) => {
        const other = deviceIdFromPublicKey(key);
        fc.pre(other !== A);
        try {
          expect(keysA?.key(from ? other : A, from ? A : other, "test").length).toBe(32);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("refuses a pair of one device with itself", () => {
    expect(() => keysA?.key(A, A, "test")).toThrow(ProtocolError);
  });

  test("refuses a peer whose key has small order (the agreement would be known to all)", () => {
    for (const hex of [
      `01${"00".repeat(31)}`,
      "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    ]) {
      const weak = deviceIdFromPublicKey(Buffer.from(hex, "hex"));
      expect(() => keysA?.key(A, weak, "test")).toThrow(ProtocolError);
      expect(() => keysA?.key(weak, A, "test")).toThrow(ProtocolError);
    }
  });
});
