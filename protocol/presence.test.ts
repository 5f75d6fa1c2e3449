import { describe, expect, test } from "bun:test";
import { encodeCbor } from "./cbor.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { decodePresence, signPresence, verifyPresence } from "./presence.ts";
import { refusal } from "./test-refusal.ts";

const device = signingKeyFromSeed(new Uint8Array(32).fill(7));
const other = signingKeyFromSeed(new Uint8Array(32).fill(8));
const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);

describe("presence records", () => {
  test("round-trip, signed by their device, and verify only with its key", () => {
    const presence = signPresence(zone, 1_700_000_000_123, device);
    const decoded = decodePresence(presence.bytes);
    expect([decoded.zone, decoded.device, decoded.at]).toEqual([
      zone,
      deviceIdFromPublicKey(device.publicKey),
      1_700_000_000_123,
    ]);
    verifyPresence(decoded, verifyKeyFromPublicKey(device.publicKey));
    expect(refusal(() => verifyPresence(decoded, verifyKeyFromPublicKey(other.publicKey)))).toBe(
      "presence verified against the wrong key",
    );
  });

  test("an altered time, or another device's claim, does not verify", () => {
    const honest = decodePresence(signPresence(zone, 1000, device).bytes);
    const signature = honest.signature;
    const later = encodeCbor({ v: 1, zone, device: honest.device, at: 999_999 });
    const forged = decodePresence(encodeCbor([later, signature]));
    expect(refusal(() => verifyPresence(forged, verifyKeyFromPublicKey(device.publicKey)))).toMatch(
      /bad signature/,
    );
  });

  test("refuses what is not a record", () => {
    expect(refusal(() => decodePresence(encodeCbor([1, 2])))).toBe(
      "presence body must be a byte string",
    );
    expect(refusal(() => decodePresence(new Uint8Array(600)))).toBe(
      "a presence record is at most 512 bytes",
    );
    const extra = encodeCbor({ v: 1, zone, device: "x", at: 1, more: 1 });
    expect(refusal(() => decodePresence(encodeCbor([extra, new Uint8Array(64)])))).toBe(
      'presence body has an unknown field "more"',
    );
  });
});
