/**
 * Sealing to a device: the Ed25519 → X25519 map against @noble/curves (an independent
 * implementation), round trips, and every way a sealed secret must fail to open: another
 * device, another context, any bit flipped.
 */
import { describe, expect, test } from "bun:test";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import fc from "fast-check";
import {
  DEVICE_SEAL_OVERHEAD,
  openAsDevice,
  sealToDevice,
  x25519PublicFromEd25519,
  x25519ScalarFromSeed,
} from "./device-seal.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { toHex } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes12 = fc.uint8Array({ minLength: 12, maxLength: 12 });
const secret = fc.uint8Array({ minLength: 0, maxLength: 64 });

function seal(seed: Uint8Array, plaintext: Uint8Array, ephemeral: Uint8Array, nonce: Uint8Array) {
  const device = signingKeyFromSeed(seed).publicKey;
  return sealToDevice({ plaintext, device, context: "test", ephemeral, nonce });
}

describe("sealing a secret to a device", () => {
  test("the key map agrees with @noble/curves, and so does the key agreement", () => {
    fc.assert(
      fc.property(bytes32, bytes32, (seed, other) => {
        const publicKey = signingKeyFromSeed(seed).publicKey;
        expect(toHex(x25519PublicFromEd25519(publicKey))).toBe(
          toHex(ed25519.utils.toMontgomery(publicKey)),
        );
        const scalar = x25519ScalarFromSeed(seed);
        expect(toHex(scalar)).toBe(toHex(ed25519.utils.toMontgomerySecret(seed)));
        // The converted secret belongs to the converted public key.
        expect(toHex(x25519.getPublicKey(scalar))).toBe(toHex(x25519PublicFromEd25519(publicKey)));
        expect(toHex(x25519.getSharedSecret(scalar, x25519.getPublicKey(other)))).toBe(
          toHex(x25519.getSharedSecret(other, x25519PublicFromEd25519(publicKey))),
        );
      }),
      { numRuns: 100 },
    );
  });

  test("opens for the device it was sealed to, with what was sealed", () => {
    fc.assert(
      fc.property(bytes32, secret, bytes32, bytes12, (seed, plaintext, ephemeral, nonce) => {
        const sealed = seal(seed, plaintext, ephemeral, nonce);
        expect(sealed.length).toBe(plaintext.length + DEVICE_SEAL_OVERHEAD);
        const device = signingKeyFromSeed(seed).publicKey;
        expect(toHex(openAsDevice({ sealed, seed, device, context: "test" }))).toBe(
          toHex(plaintext),
        );
      }),
      { numRuns: 100 },
    );
  });

  test("another device, another context or one flipped bit: it does not open", () => {
    fc.assert(
      fc.property(
        bytes32,
        bytes32,
        secret,
        bytes32,
        bytes12,
        fc.nat(),
        (seed, otherSeed, plaintext, ephemeral, nonce, bit) => {
          fc.pre(toHex(seed) !== toHex(otherSeed));
          const sealed = seal(seed, plaintext, ephemeral, nonce);
          const device = signingKeyFromSeed(seed).publicKey;
          const other = signingKeyFromSeed(otherSeed).publicKey;
          expect(() =>
            openAsDevice({ sealed, seed: otherSeed, device: other, context: "test" }),
          ).toThrow(ProtocolError);
          expect(() => openAsDevice({ sealed, seed, device, context: "other" })).toThrow(
            ProtocolError,
          );
          const flipped = new Uint8Array(sealed);
          const at = bit % (flipped.length * 8);
          flipped[at >> 3] = (flipped[at >> 3] ?? 0) ^ (1 << (at & 7));
          expect(() => openAsDevice({ sealed: flipped, seed, device, context: "test" })).toThrow(
            ProtocolError,
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  test("a key of small order is refused as a recipient", () => {
    expect(() =>
      sealToDevice({
        plaintext: new Uint8Array(32),
        device: new Uint8Array(32),
        context: "test",
        ephemeral: new Uint8Array(32).fill(7),
        nonce: new Uint8Array(12),
      }),
    ).toThrow(ProtocolError);
  });

  test("a sealed secret whose ephemeral key has small order is refused as altered bytes are", () => {
    const seed = new Uint8Array(32).fill(3);
    const device = signingKeyFromSeed(seed).publicKey;
    const sealed = seal(seed, new Uint8Array(16), new Uint8Array(32).fill(9), new Uint8Array(12));
    // u = 0 and u = 1 (of order 4 and 1): the agreement with them is known to everyone.
    for (const u of [0, 1]) {
      const forged = new Uint8Array(sealed);
      forged.fill(0, 1, 33);
      forged[1] = u;
      expect(() => openAsDevice({ sealed: forged, seed, device, context: "test" })).toThrow(
        ProtocolError,
      );
    }
  });
});
