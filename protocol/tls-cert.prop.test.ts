/**
 * A device certificate is compared byte for byte: for any key, the certificate that key
 * makes is accepted and every other byte string of its length, one byte off, is refused.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { signingKeyFromSeed } from "./ed25519.ts";
import { CERTIFICATE_BYTES, deviceCertificate, isDeviceCertificate } from "./tls-cert.ts";

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("device certificates of any key", () => {
  test("are accepted for their own key only", () => {
    fc.assert(
      fc.property(seed, seed, (seedA, seedB) => {
        fc.pre(seedA.some((byte, i) => byte !== seedB[i]));
        const a = signingKeyFromSeed(seedA);
        const b = signingKeyFromSeed(seedB);
        const der = deviceCertificate(a);
        expect(der.length).toBe(CERTIFICATE_BYTES);
        expect(isDeviceCertificate(der, a.publicKey)).toBe(true);
        expect(isDeviceCertificate(der, b.publicKey)).toBe(false);
        expect(isDeviceCertificate(deviceCertificate(b), a.publicKey)).toBe(false);
      }),
      { numRuns: 100 },
    );
  });

  test("are refused with any single byte changed, at any position", () => {
    fc.assert(
      fc.property(
        seed,
        fc.nat(CERTIFICATE_BYTES - 1),
        fc.integer({ min: 1, max: 255 }),
        (keySeed, position, mask) => {
          const key = signingKeyFromSeed(keySeed);
          const der = deviceCertificate(key);
          der[position] = (der[position] as number) ^ mask;
          expect(isDeviceCertificate(der, key.publicKey)).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
