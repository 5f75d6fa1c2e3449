import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  deviceIdFromPublicKey,
  parseDeviceId,
  parseZoneId,
  publicKeyOfId,
  zoneIdFromPublicKey,
} from "./ids.ts";

const publicKey = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("ids round-trip any 32-byte key", () => {
  test("zone and device ids parse back to their key and are DNS labels", () => {
    fc.assert(
      fc.property(publicKey, (key) => {
        const zone = zoneIdFromPublicKey(key);
        const device = deviceIdFromPublicKey(key);
        expect(zone).toMatch(/^z[a-z2-7]{52}$/);
        expect(device).toMatch(/^d[a-z2-7]{52}$/);
        expect(parseZoneId(zone)).toBe(zone);
        expect(parseDeviceId(device)).toBe(device);
        expect(publicKeyOfId(zone, "zone")).toEqual(key);
        expect(publicKeyOfId(device, "device")).toEqual(key);
        expect(parseDeviceId(zone)).toBeUndefined();
        expect(parseZoneId(device)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  test("an id names one key: changing any character changes or refuses the key", () => {
    fc.assert(
      fc.property(
        publicKey,
        fc.nat(52),
        fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz234567"),
        (key, index, ch) => {
          const id = zoneIdFromPublicKey(key);
          const changed = `${id.slice(0, index + 1)}${ch}${id.slice(index + 2)}`;
          fc.pre(changed !== id);
          const parsed = publicKeyOfId(changed, "zone");
          if (parsed !== undefined) expect<string>(zoneIdFromPublicKey(parsed)).toBe(changed);
        },
      ),
      { numRuns: 300 },
    );
  });
});
