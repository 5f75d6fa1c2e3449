/** Every sync message decodes to exactly what was encoded. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type DeviceId, deviceIdFromPublicKey } from "./ids.ts";
import {
  decodeAck,
  decodeEntries,
  decodePullRequest,
  encodeAck,
  encodeEntries,
  encodePullRequest,
} from "./sync-messages.ts";

const deviceId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((key) => deviceIdFromPublicKey(key));
const vector = fc
  .array(fc.tuple(deviceId, fc.maxSafeNat()), { maxLength: 20 })
  .map((pairs) => new Map<DeviceId, number>(pairs));
const count = fc.nat({ max: 1_000_000 });

describe("sync messages round-trip", () => {
  test("pull requests", () => {
    fc.assert(
      fc.property(vector, (have) => {
        expect(decodePullRequest(encodePullRequest({ have }))).toEqual({ have });
      }),
      { numRuns: 300 },
    );
  });

  test("entries", () => {
    fc.assert(
      fc.property(
        vector,
        fc.array(fc.uint8Array({ maxLength: 512 }), { maxLength: 20 }),
        fc.boolean(),
        (have, entries, more) => {
          expect(decodeEntries(encodeEntries({ have, entries, more }))).toEqual({
            have,
            entries,
            more,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  test("acks", () => {
    fc.assert(
      fc.property(vector, count, count, (have, applied, rejected) => {
        expect(decodeAck(encodeAck({ have, applied, rejected }))).toEqual({
          have,
          applied,
          rejected,
        });
      }),
      { numRuns: 300 },
    );
  });
});
