import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { encodeCbor } from "./cbor.ts";
import { decodeFacts, MAX_FACTS_BYTES, signFacts, verifyFacts } from "./device-facts.ts";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { utf8 } from "./encoding.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { signPresence } from "./presence.ts";
import { sealRecord } from "./signed-record.ts";
import { refusal } from "./test-refusal.ts";

const device = signingKeyFromSeed(new Uint8Array(32).fill(7));
const other = signingKeyFromSeed(new Uint8Array(32).fill(8));
const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const facts = { backups: { usb: { lastBackupAt: 1_700_000_000_000 } }, holdsBackupKey: true };

describe("device facts", () => {
  test("round-trip, signed by their device, and verify only with its key", () => {
    const record = signFacts(zone, 1_700_000_000_123, facts, device);
    const decoded = decodeFacts(record.bytes);
    expect([decoded.zone, decoded.device, decoded.at, decoded.facts]).toEqual([
      zone,
      deviceIdFromPublicKey(device.publicKey),
      1_700_000_000_123,
      facts,
    ]);
    verifyFacts(decoded, verifyKeyFromPublicKey(device.publicKey));
    expect(refusal(() => verifyFacts(decoded, verifyKeyFromPublicKey(other.publicKey)))).toBe(
      "facts verified against the wrong key",
    );
  });

  test("any flipped bit is refused, by the decoder or the signature", () => {
    const bytes = signFacts(zone, 1000, facts, device).bytes;
    fc.assert(
      fc.property(fc.nat(bytes.length * 8 - 1), (bit) => {
        const flipped = bytes.slice();
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
        const refused = refusal(() =>
          verifyFacts(decodeFacts(flipped), verifyKeyFromPublicKey(device.publicKey)),
        );
        expect(refused).toBeDefined();
      }),
    );
  });

  test("a presence record, or facts signed as presence, do not pass for facts", () => {
    expect(refusal(() => decodeFacts(signPresence(zone, 1000, device).bytes))).toBe(
      "facts must be a map",
    );
    const body = { v: 1, zone, device: deviceIdFromPublicKey(device.publicKey), at: 1000, facts };
    const asPresence = decodeFacts(sealRecord(body, device, utf8("bucky presence v1\n")));
    expect(
      refusal(() => verifyFacts(asPresence, verifyKeyFromPublicKey(device.publicKey))),
    ).toMatch(/bad signature/);
  });

  test("refuses what is too large or not a map of facts", () => {
    expect(refusal(() => decodeFacts(new Uint8Array(MAX_FACTS_BYTES + 1)))).toBe(
      `a facts record is at most ${MAX_FACTS_BYTES} bytes`,
    );
    const list = encodeCbor({
      v: 1,
      zone,
      device: deviceIdFromPublicKey(device.publicKey),
      at: 1,
      facts: [1],
    });
    expect(refusal(() => decodeFacts(encodeCbor([list, new Uint8Array(64)])))).toBe(
      "facts must be a map",
    );
  });
});
