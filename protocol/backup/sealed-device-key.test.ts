/**
 * A device key sealed to the zone's owner: it opens with the owner's key and nothing else,
 * names its device in the clear, and every alteration (a bit flipped, another device's
 * name put in front, another zone's owner) fails to open.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signingKeyFromSeed } from "../ed25519.ts";
import { fromUtf8, toHex, utf8 } from "../encoding.ts";
import { ProtocolError } from "../errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "../ids.ts";
import {
  MAX_SEALED_DEVICE_KEY_BYTES,
  openDeviceKey,
  sealDeviceKey,
  sealedDeviceKeyOf,
} from "./sealed-device-key.ts";

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes12 = fc.uint8Array({ minLength: 12, maxLength: 12 });

function sealed(ownerSeed: Uint8Array, seed: Uint8Array, ephemeral: Uint8Array, nonce: Uint8Array) {
  const zone = zoneIdFromPublicKey(signingKeyFromSeed(ownerSeed).publicKey);
  return sealDeviceKey({ zone, seed, ephemeral, nonce });
}

const deviceOf = (seed: Uint8Array) => deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey);

describe("a device key sealed to the zone's owner", () => {
  test("opens with the owner's key, to the device's seed; names the device in the clear", () => {
    fc.assert(
      fc.property(bytes32, bytes32, bytes32, bytes12, (owner, seed, ephemeral, nonce) => {
        const file = sealed(owner, seed, ephemeral, nonce);
        expect(file.length).toBeLessThanOrEqual(MAX_SEALED_DEVICE_KEY_BYTES);
        expect(sealedDeviceKeyOf(file)).toBe(deviceOf(seed));
        const opened = openDeviceKey({ file, ownerSeed: owner });
        expect(opened.device).toBe(deviceOf(seed));
        expect(toHex(opened.seed)).toBe(toHex(seed));
        // The seed is nowhere in the file, in any form.
        const text = fromUtf8(file) as string;
        expect(text).not.toContain(toHex(seed));
        expect(text).not.toContain(Buffer.from(seed).toString("base64url"));
        expect(Buffer.from(file).indexOf(Buffer.from(seed))).toBe(-1);
      }),
      { numRuns: 50 },
    );
  });

  test("does not open with a device's key, or another zone's owner", () => {
    fc.assert(
      fc.property(bytes32, bytes32, bytes32, bytes32, bytes12, (owner, other, seed, eph, nonce) => {
        fc.pre(toHex(owner) !== toHex(other));
        const file = sealed(owner, seed, eph, nonce);
        expect(() => openDeviceKey({ file, ownerSeed: other })).toThrow(ProtocolError);
        expect(() => openDeviceKey({ file, ownerSeed: seed })).toThrow(ProtocolError);
      }),
      { numRuns: 30 },
    );
  });

  test("any bit flipped fails to open", () => {
    fc.assert(
      fc.property(
        bytes32,
        bytes32,
        bytes32,
        bytes12,
        fc.nat(),
        fc.nat(7),
        (o, s, e, n, at, bit) => {
          const file = sealed(o, s, e, n);
          const flipped = new Uint8Array(file);
          const i = at % flipped.length;
          flipped[i] = (flipped[i] ?? 0) ^ (1 << bit);
          expect(() => openDeviceKey({ file: flipped, ownerSeed: o })).toThrow(ProtocolError);
        },
      ),
      { numRuns: 200 },
    );
  });

  test("another device's name in front of the sealed key does not open", () => {
    const owner = new Uint8Array(32).fill(1);
    const seed = new Uint8Array(32).fill(2);
    const file = sealed(owner, seed, new Uint8Array(32).fill(3), new Uint8Array(12).fill(4));
    const swapped = utf8(
      (fromUtf8(file) as string).replace(deviceOf(seed), deviceOf(new Uint8Array(32).fill(5))),
    );
    expect(sealedDeviceKeyOf(swapped)).toBe(deviceOf(new Uint8Array(32).fill(5)));
    expect(() => openDeviceKey({ file: swapped, ownerSeed: owner })).toThrow(ProtocolError);
  });

  test("what is not a sealed key file is refused before anything is opened", () => {
    const owner = new Uint8Array(32).fill(1);
    for (const text of [
      "",
      "bucky-device-key-v1:AAAA\n",
      "bucky-sealed-device-key-v1:\n",
      "bucky-sealed-device-key-v1:dnotanid:AAAA\n",
      `bucky-sealed-device-key-v1:${deviceOf(owner)}:!!\n`,
      `bucky-sealed-device-key-v1:${deviceOf(owner)}:AAAA:AAAA\n`,
      `bucky-sealed-device-key-v1:${deviceOf(owner)}:${"A".repeat(600)}\n`,
    ])
      expect(() => openDeviceKey({ file: utf8(text), ownerSeed: owner })).toThrow(ProtocolError);
  });
});
