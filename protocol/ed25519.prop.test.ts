/**
 * The native Ed25519 against @noble/curves, an independent pure-JavaScript implementation:
 * same keys, same signatures, and each accepts what the other signed.
 */
import { describe, expect, test } from "bun:test";
import { ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { toHex } from "./encoding.ts";

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ maxLength: 256 });

describe("native Ed25519 agrees with @noble/curves", () => {
  test("same public key and signature; each verifies the other's", () => {
    fc.assert(
      fc.property(seed, message, (seedBytes, messageBytes) => {
        const key = signingKeyFromSeed(seedBytes);
        expect(toHex(key.publicKey)).toBe(toHex(ed25519.getPublicKey(seedBytes)));
        const signature = key.sign(messageBytes);
        expect(toHex(signature)).toBe(toHex(ed25519.sign(messageBytes, seedBytes)));
        expect(ed25519.verify(signature, messageBytes, key.publicKey, { zip215: false })).toBe(
          true,
        );
        expect(verifyKeyFromPublicKey(key.publicKey).verify(messageBytes, signature)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test("both refuse a signature with one bit flipped", () => {
    fc.assert(
      fc.property(seed, message, fc.nat(64 * 8 - 1), (seedBytes, messageBytes, bit) => {
        const key = signingKeyFromSeed(seedBytes);
        const signature = key.sign(messageBytes);
        signature[bit >> 3] = (signature[bit >> 3] ?? 0) ^ (1 << (bit & 7));
        expect(verifyKeyFromPublicKey(key.publicKey).verify(messageBytes, signature)).toBe(false);
        expect(ed25519.verify(signature, messageBytes, key.publicKey, { zip215: false })).toBe(
          false,
        );
      }),
      { numRuns: 300 },
    );
  });

  test("both refuse a message with one bit flipped", () => {
    fc.assert(
      fc.property(
        seed,
        fc.uint8Array({ minLength: 1, maxLength: 256 }),
        fc.nat(),
        (seedBytes, messageBytes, position) => {
          const key = signingKeyFromSeed(seedBytes);
          const signature = key.sign(messageBytes);
          const bit = position % (messageBytes.length * 8);
          const changed = messageBytes.slice();
          changed[bit >> 3] = (changed[bit >> 3] ?? 0) ^ (1 << (bit & 7));
          expect(verifyKeyFromPublicKey(key.publicKey).verify(changed, signature)).toBe(false);
          expect(ed25519.verify(signature, changed, key.publicKey, { zip215: false })).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
