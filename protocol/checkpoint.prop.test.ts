import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { encodeCbor } from "./cbor.ts";
import {
  type CheckpointRow,
  decodeCheckpoint,
  decodeOffer,
  decodePage,
  encodeCheckpoint,
  encodeOffer,
  encodePage,
  endorsementValue,
  RowsDigest,
  readEndorsement,
} from "./checkpoint.ts";
import { signingKeyFromSeed } from "./ed25519.ts";
import { ProtocolError } from "./errors.ts";
import { type DeviceId, deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";

const zone = zoneIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(1)).publicKey);
const devices = [2, 3, 4].map((b) =>
  deviceIdFromPublicKey(signingKeyFromSeed(new Uint8Array(32).fill(b)).publicKey),
);
const author = fc.constantFrom(...devices);
const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });

const body = fc.record({
  cut: fc.nat({ max: 2 ** 48 - 1 }),
  frontier: fc
    .uniqueArray(fc.record({ author, seq: fc.integer({ min: 1, max: 2 ** 40 }), hash }), {
      selector: (entry) => entry.author,
      maxLength: 3,
    })
    .map((entries) => [...entries].sort((a, b) => (a.author < b.author ? -1 : 1))),
  keys: fc.nat(),
  digest: hash,
});

const row: fc.Arbitrary<CheckpointRow> = fc.tuple(
  fc.stringMatching(/^[a-z0-9]{1,8}(\/[a-z0-9]{1,8}){0,3}$/),
  fc.option(
    fc.jsonValue().map((value) => JSON.stringify(value)),
    { nil: null },
  ),
  fc.nat({ max: 2 ** 48 - 1 }),
  fc.nat({ max: 0xffff }),
  author as fc.Arbitrary<string>,
  fc.integer({ min: 1, max: 2 ** 40 }),
);

describe("checkpoints on the wire", () => {
  test("a body round-trips, and its id names exactly its bytes", () => {
    fc.assert(
      fc.property(body, (fields) => {
        const checkpoint = encodeCheckpoint({ zone, ...fields });
        const again = decodeCheckpoint(checkpoint.bytes);
        expect(again.id).toBe(checkpoint.id);
        expect({ cut: again.cut, keys: again.keys, frontier: again.frontier }).toEqual({
          cut: fields.cut,
          keys: fields.keys,
          frontier: fields.frontier,
        });
      }),
    );
  });

  test("a bit flipped in a body is refused or makes another checkpoint (another id)", () => {
    fc.assert(
      fc.property(body, fc.nat(), fc.nat({ max: 7 }), (fields, at, bit) => {
        const checkpoint = encodeCheckpoint({ zone, ...fields });
        const flipped = new Uint8Array(checkpoint.bytes);
        const i = at % flipped.length;
        flipped[i] = (flipped[i] as number) ^ (1 << bit);
        try {
          expect(decodeCheckpoint(flipped).id).not.toBe(checkpoint.id);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
    );
  });

  test("an endorsement names its checkpoint, and one whose id does not match is none", () => {
    fc.assert(
      fc.property(body, (fields) => {
        const checkpoint = encodeCheckpoint({ zone, ...fields });
        expect(readEndorsement(endorsementValue(checkpoint))?.id).toBe(checkpoint.id);
        const forged = JSON.parse(endorsementValue(checkpoint)) as { id: string };
        forged.id = forged.id.replace(/^./, (c) => (c === "0" ? "1" : "0"));
        expect(readEndorsement(JSON.stringify(forged))).toBeUndefined();
      }),
    );
  });

  test("a page of rows round-trips; rows out of key order do not hash", () => {
    fc.assert(
      fc.property(fc.uniqueArray(row, { selector: (r) => r[0], maxLength: 30 }), (rows) => {
        const sorted = [...rows].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        const page = decodePage(encodePage({ rows: sorted, changesets: [], more: false }));
        expect(page.rows).toEqual(sorted);
        const digest = new RowsDigest();
        for (const r of page.rows) digest.add(r);
        expect(digest.keys).toBe(sorted.length);
        if (sorted.length >= 2) {
          const backwards = new RowsDigest();
          expect(() => {
            for (const r of [...sorted].reverse()) backwards.add(r);
          }).toThrow(ProtocolError);
        }
      }),
    );
  });

  test("a row that breaks a limit is refused, naming the row", () => {
    const good: unknown[] = ["apps/a", '"x"', 1, 0, 0, 1];
    const page = (r: unknown[]) =>
      encodePageBytes({ authors: [devices[0] as DeviceId], rows: [good, r] });
    for (const bad of [
      ["apps/../a", '"x"', 1, 0, 0, 1],
      ["apps/a", "not json", 1, 0, 0, 1],
      ["apps/a", '"x"', 1, 0, 7, 1],
      ["apps/a", '"x"', 1, 0, 0, 0],
      ["apps/a", '"x"', -1, 0, 0, 1],
    ])
      expect(() => decodePage(page(bad))).toThrow("checkpoint row 1");
  });

  test("an offer round-trips", () => {
    fc.assert(
      fc.property(body, fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 }), (f, e) => {
        const checkpoint = encodeCheckpoint({ zone, ...f });
        const offer = decodeOffer(encodeOffer({ checkpoint, endorsements: e }));
        expect([offer.checkpoint.id, offer.endorsements]).toEqual([checkpoint.id, e]);
      }),
    );
  });
});

/** A page as a peer could send it, rows written by hand. */
function encodePageBytes(page: { authors: string[]; rows: unknown[][] }): Uint8Array {
  return encodeCbor({ v: 1, authors: page.authors, rows: page.rows, changesets: [], more: false });
}
