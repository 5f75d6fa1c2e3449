import { describe, expect, test } from "bun:test";
import { createHmac, hkdfSync } from "node:crypto";
import fc from "fast-check";
import { toHex } from "./encoding.ts";
import {
  type ColumnValue,
  DIGEST_BYTES,
  deriveSealKey,
  rowMac,
  type SealFields,
  sealMac,
  xorInto,
} from "./state-seal.ts";

const key = deriveSealKey(new Uint8Array(32).fill(7));

const column: fc.Arbitrary<ColumnValue> = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }),
);
const row = fc.array(column, { maxLength: 6 });

/** Two rows the same to the seal: the same columns, of the same types, in order. */
function sameRow(a: readonly ColumnValue[], b: readonly ColumnValue[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      if (x instanceof Uint8Array || y instanceof Uint8Array)
        return x instanceof Uint8Array && y instanceof Uint8Array && toHex(x) === toHex(y);
      return typeof x === typeof y && Object.is(x, y);
    })
  );
}

/** The row encoding as the format defines it, written plainly: what the fast one must match. */
function referenceEncoding(tag: number, columns: readonly ColumnValue[]): Buffer {
  const parts: Buffer[] = [Buffer.from([tag])];
  for (const value of columns) {
    if (value === null) parts.push(Buffer.from([0]));
    else if (typeof value === "number") {
      const part = Buffer.alloc(9);
      part[0] = 1;
      part.writeDoubleBE(value, 1);
      parts.push(part);
    } else if (typeof value === "bigint") {
      const part = Buffer.alloc(9);
      part[0] = 2;
      part.writeBigInt64BE(BigInt.asIntN(64, value), 1);
      parts.push(part);
    } else {
      const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
      const head = Buffer.alloc(5);
      head[0] = typeof value === "string" ? 3 : 4;
      head.writeUInt32BE(bytes.length, 1);
      parts.push(head, bytes);
    }
  }
  return Buffer.concat(parts);
}

describe("the state seal", () => {
  test("a row's mac is HMAC-SHA256 of the reference encoding, for any columns", () => {
    const anyColumn: fc.Arbitrary<ColumnValue> = fc.oneof(
      fc.constant(null),
      fc.integer(),
      fc.double(),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.string({ maxLength: 40 }),
      fc.string({ minLength: 3000, maxLength: 6000 }),
      // Past the length from which the encoder writes text, any code units.
      fc.string({ unit: "binary", minLength: 40, maxLength: 400 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 5000, maxLength: 9000 }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(anyColumn, { maxLength: 6 }), { maxLength: 4 }), (rows) => {
        // Several rows in a row: each mac is made from its own columns alone.
        for (const columns of rows) {
          const expected = createHmac("sha256", key)
            .update(referenceEncoding(0x73, columns))
            .digest();
          expect(toHex(rowMac(key, "state", columns))).toBe(toHex(expected));
        }
      }),
      { numRuns: 200 },
    );
  });

  test("its key is HKDF-SHA256(device seed, salt bucky, info 'bucky state seal v1')", () => {
    const seed = new Uint8Array(32).fill(7);
    expect(toHex(key)).toBe(
      toHex(new Uint8Array(hkdfSync("sha256", seed, "bucky", "bucky state seal v1", 32))),
    );
    expect(toHex(deriveSealKey(new Uint8Array(32).fill(8)))).not.toBe(toHex(key));
  });

  test("a row's mac is an HMAC-SHA256 of its typed, length-prefixed columns", () => {
    // tag 's', then text "k" (type 3, length 1), null (type 0), the number 5 (type 1, float64).
    const encoded = Buffer.from("7303000000016b00014014000000000000", "hex");
    expect(toHex(rowMac(key, "state", ["k", null, 5]))).toBe(
      createHmac("sha256", key).update(encoded).digest("hex"),
    );
  });

  test("different rows have different macs: no column can pass for another", () => {
    fc.assert(
      fc.property(row, row, (a, b) => {
        fc.pre(!sameRow(a, b));
        expect(toHex(rowMac(key, "state", a))).not.toBe(toHex(rowMac(key, "state", b)));
      }),
      { numRuns: 200 },
    );
    // The cases a careless encoding would confuse.
    const pairs: [ColumnValue[], ColumnValue[]][] = [
      [
        ["ab", "c"],
        ["a", "bc"],
      ],
      [[null], [""]],
      [["1"], [1]],
      [[new Uint8Array([0x61])], ["a"]],
      [[], [null]],
    ];
    for (const [a, b] of pairs)
      expect(toHex(rowMac(key, "state", a))).not.toBe(toHex(rowMac(key, "state", b)));
    expect(toHex(rowMac(key, "state", ["x"]))).not.toBe(toHex(rowMac(key, "changesets", ["x"])));
  });

  test("a digest is independent of the order rows were added in, and removing undoes adding", () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 8 }), fc.nat(), (rows, shift) => {
        const digest = (of: readonly (readonly ColumnValue[])[]) => {
          const out = new Uint8Array(DIGEST_BYTES);
          for (const r of of) xorInto(out, rowMac(key, "state", r));
          return toHex(out);
        };
        const k = rows.length === 0 ? 0 : shift % rows.length;
        expect(digest([...rows.slice(k), ...rows.slice(0, k)])).toBe(digest(rows));
        expect(digest([...rows, ...rows])).toBe(toHex(new Uint8Array(DIGEST_BYTES)));
      }),
    );
  });

  test("the seal's mac covers every field: a change to any one does not verify", () => {
    const sealed: SealFields = {
      device: "d1",
      stateDigest: new Uint8Array(32).fill(1),
      stateRows: 3,
      changesetDigest: new Uint8Array(32).fill(2),
      changesetRows: 4,
      ownHead: new Uint8Array(32).fill(3),
      verifiedAt: 1000,
      damage: null,
    };
    const mac = toHex(sealMac(key, sealed));
    const changed: Partial<SealFields>[] = [
      { device: "d2" },
      { stateDigest: new Uint8Array(32).fill(9) },
      { stateRows: 2 },
      { changesetDigest: new Uint8Array(32).fill(9) },
      { changesetRows: 5 },
      { ownHead: null },
      { verifiedAt: 2000 },
      { verifiedAt: null },
      { damage: "" },
    ];
    for (const change of changed)
      expect(toHex(sealMac(key, { ...sealed, ...change }))).not.toBe(mac);
    expect(toHex(sealMac(deriveSealKey(new Uint8Array(32).fill(8)), sealed))).not.toBe(mac);
  });
});
