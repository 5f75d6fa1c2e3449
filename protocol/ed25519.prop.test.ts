/**
 * The native Ed25519 against @noble/curves, an independent pure-JavaScript implementation:
 * same keys, same signatures, and each accepts what the other signed.
 */
import { describe, expect, test } from "bun:test";
import { ED25519_TORSION_SUBGROUP, ed25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromHex, toHex } from "./encoding.ts";

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

/** What a forger tries on a signature: flip a bit, add the group order to S, a torsion R with S = 0. */
function tampered(signature: Uint8Array, how: number, bit: number, torsion: number): Uint8Array {
  const out = signature.slice();
  if (how === 0) return out;
  if (how === 1) {
    out[bit >> 3] = (out[bit >> 3] ?? 0) ^ (1 << (bit & 7));
    return out;
  }
  if (how === 2) {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(out[32 + i] ?? 0);
    let malleated = s + L;
    for (let i = 0; i < 32; i++) {
      out[32 + i] = Number(malleated & 0xffn);
      malleated >>= 8n;
    }
    return out;
  }
  const points = ED25519_TORSION_SUBGROUP;
  out.set(fromHex(points[torsion % points.length] as string) as Uint8Array);
  out.fill(0, 32);
  return out;
}

describe("verifyOffThread decides as verify does", () => {
  test("for good, flipped, malleated and torsion signatures", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(seed, message, fc.nat(3), fc.nat(64 * 8 - 1), fc.nat()), {
          minLength: 1,
          maxLength: 16,
        }),
        async (cases) => {
          const checks = cases.map(([seedBytes, messageBytes, how, bit, torsion]) => {
            const key = signingKeyFromSeed(seedBytes);
            const signature = tampered(key.sign(messageBytes), how, bit, torsion);
            return { key: verifyKeyFromPublicKey(key.publicKey), messageBytes, signature };
          });
          // All started at once, as a batch is.
          const offThread = await Promise.all(
            checks.map(
              ({ key, messageBytes, signature }) =>
                new Promise<boolean>((done) => key.verifyOffThread(messageBytes, signature, done)),
            ),
          );
          expect(offThread).toEqual(
            checks.map(({ key, messageBytes, signature }) => key.verify(messageBytes, signature)),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});
