import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { type Changeset, signChangeset } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { DIGEST_BYTES, xorInto } from "../../protocol/state-seal.ts";
import { state } from "../store/schema.ts";
import { applyChangeset } from "./apply.ts";
import { openTestNode, seed } from "./test-db.ts";

/** Three authors writing a handful of keys, so concurrent writes collide often. */
const authors = [2, 3, 4].map((byte) => signingKeyFromSeed(seed(byte)));
const { zone } = openTestNode(9);

interface Write {
  author: number;
  ms: number;
  counter: number;
  ops: { key: string; value: string | null }[];
}

const write: fc.Arbitrary<Write> = fc.record({
  author: fc.integer({ min: 0, max: authors.length - 1 }),
  ms: fc.integer({ min: 1, max: 20 }),
  counter: fc.integer({ min: 0, max: 2 }),
  ops: fc.uniqueArray(
    fc.record({
      key: fc.constantFrom("a", "b", "c"),
      value: fc.option(fc.integer().map(String), { nil: null }),
    }),
    { minLength: 1, maxLength: 3, selector: (op) => op.key },
  ),
});

/**
 * Signs the writes as the authors would: each author's seq counts up and its clock only
 * moves forward (an author never issues the same HLC twice); different authors may tie.
 */
function build(writes: Write[]): Changeset[] {
  const seqs = authors.map(() => 0);
  const clocks = authors.map(() => ({ ms: 0, counter: 0 }));
  return writes.map((w) => {
    const key = authors[w.author] as (typeof authors)[number];
    seqs[w.author] = (seqs[w.author] as number) + 1;
    const last = clocks[w.author] as { ms: number; counter: number };
    const hlc =
      w.ms > last.ms || (w.ms === last.ms && w.counter > last.counter)
        ? { ms: w.ms, counter: w.counter }
        : { ms: last.ms, counter: last.counter + 1 };
    clocks[w.author] = hlc;
    return signChangeset(
      {
        zone,
        author: deviceIdFromPublicKey(key.publicKey),
        seq: seqs[w.author] as number,
        prev: seqs[w.author] === 1 ? null : new Uint8Array(32),
        hlc,
        ops: w.ops,
      },
      key,
    );
  });
}

/**
 * The state after applying `changesets` (each twice with `repeat`), one transaction at a
 * time; and checks that the seal, updated write by write, holds the digest of the
 * table as it ends.
 */
function stateAfter(changesets: readonly Changeset[], repeat: boolean): unknown {
  const { db, seal } = openTestNode(9);
  for (const changeset of changesets) {
    for (const _ of repeat ? [1, 2] : [1]) {
      const tally = seal.tally(db.$client);
      applyChangeset(db.$client, tally, changeset);
      tally.save();
    }
  }
  const rows = db
    .select()
    .from(state)
    .all()
    .sort((a, b) => a.key.localeCompare(b.key));
  const digest = new Uint8Array(DIGEST_BYTES);
  for (const row of rows)
    xorInto(
      digest,
      seal.stateRowMac([row.key, row.value, row.hlcMs, row.hlcCounter, row.author, row.seq]),
    );
  const sealed = seal.read(db.$client);
  expect([sealed?.stateRows, Buffer.from(sealed?.stateDigest ?? []).toString("hex")]).toEqual([
    rows.length,
    Buffer.from(digest).toString("hex"),
  ]);
  db.$client.close();
  return rows;
}

describe("applyChangeset (last writer wins)", () => {
  test("gives the same state whatever the order, and whatever is applied twice (and the seal follows it)", () => {
    fc.assert(
      fc.property(
        fc.array(write, { minLength: 1, maxLength: 8 }).chain((writes) =>
          fc.tuple(
            fc.constant(writes),
            fc.shuffledSubarray(
              writes.map((_, i) => i),
              { minLength: writes.length },
            ),
          ),
        ),
        fc.boolean(),
        ([writes, order], repeat) => {
          const changesets = build(writes);
          const inOrder = stateAfter(changesets, false);
          const shuffled = stateAfter(
            order.map((i) => changesets[i] as Changeset),
            repeat,
          );
          expect(shuffled).toEqual(inOrder);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("applyChangeset ties", () => {
  test("at equal clocks, the greater author id wins, in either order", () => {
    const [low, high] = [...authors].sort((a, b) =>
      deviceIdFromPublicKey(a.publicKey).localeCompare(deviceIdFromPublicKey(b.publicKey)),
    ) as [(typeof authors)[number], (typeof authors)[number]];
    const at = (key: typeof low, value: string) =>
      signChangeset(
        {
          zone,
          author: deviceIdFromPublicKey(key.publicKey),
          seq: 1,
          prev: null,
          hlc: { ms: 5, counter: 0 },
          ops: [{ key: "k", value }],
        },
        key,
      );
    const expected = [
      {
        key: "k",
        value: '"high"',
        hlcMs: 5,
        hlcCounter: 0,
        author: deviceIdFromPublicKey(high.publicKey),
        seq: 1,
      },
    ];
    expect(stateAfter([at(low, '"low"'), at(high, '"high"')], false)).toEqual(expected);
    expect(stateAfter([at(high, '"high"'), at(low, '"low"')], false)).toEqual(expected);
  });
});
