import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { toHex } from "../../protocol/encoding.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import {
  type ColumnValue,
  DIGEST_BYTES,
  deriveSealKey,
  rowMac,
  type SealedTable,
  xorInto,
} from "../../protocol/state-seal.ts";
import { StateSeal } from "./seal.ts";

const seed = new Uint8Array(32).fill(5);
const seal = StateSeal.fromSeed(seed, "dtest" as DeviceId);
const key = deriveSealKey(seed);

const column: fc.Arbitrary<ColumnValue> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ minLength: 3000, maxLength: 6000 }),
  fc.uint8Array({ maxLength: 40 }),
  fc.uint8Array({ minLength: 5000, maxLength: 9000 }),
);

describe("StateSeal", () => {
  test("macs each table's rows exactly as protocol/state-seal.ts defines", () => {
    fc.assert(
      fc.property(fc.array(fc.array(column, { maxLength: 6 }), { maxLength: 4 }), (rows) => {
        for (const row of rows) {
          expect(toHex(seal.stateRowMac(row))).toBe(toHex(rowMac(key, "state", row)));
          expect(toHex(seal.changesetRowMac(row))).toBe(toHex(rowMac(key, "changesets", row)));
          expect(toHex(seal.baseRowMac(row))).toBe(toHex(rowMac(key, "checkpoint_base", row)));
          expect(toHex(seal.checkpointMac(row))).toBe(toHex(rowMac(key, "checkpoint", row)));
          expect(toHex(seal.inviteMac(row))).toBe(toHex(rowMac(key, "invites", row)));
        }
      }),
      { numRuns: 150 },
    );
  });

  test("XORs into a digest the macs protocol/state-seal.ts defines, row after row", () => {
    const tables: SealedTable[] = ["state", "changesets", "checkpoint_base"];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...tables), fc.array(column, { maxLength: 6 })), {
          maxLength: 8,
        }),
        (rows) => {
          const digest = new Uint8Array(DIGEST_BYTES);
          const expected = new Uint8Array(DIGEST_BYTES);
          for (const [table, row] of rows) {
            seal.xorRowMac(table, row, digest);
            xorInto(expected, rowMac(key, table, row));
          }
          expect(toHex(digest)).toBe(toHex(expected));
        },
      ),
      { numRuns: 150 },
    );
  });
});
