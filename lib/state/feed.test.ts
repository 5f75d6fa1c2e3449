import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { asc } from "drizzle-orm";
import { decodeChangeset, verifyChangeset } from "../../protocol/changeset.ts";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { changesets, state } from "../store/schema.ts";
import { syncsBetweenMarks } from "../store/test-syncs.ts";
import { appendLocalChangeset } from "./feed.ts";
import { openTestNode } from "./test-db.ts";

describe("appendLocalChangeset", () => {
  test("chains each changeset to the previous one and signs it", () => {
    const { db, zone, key, seal } = openTestNode(7);
    const first = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [{ key: "a", value: "1" }],
      1000,
    );
    const second = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [{ key: "b", value: "2" }],
      2000,
    );
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(first.prev).toBeNull();
    expect(second.prev).toEqual(first.hash);

    const stored = db.select().from(changesets).orderBy(asc(changesets.seq)).all();
    expect(stored.map((row) => row.seq)).toEqual([1, 2]);
    for (const row of stored) {
      const decoded = decodeChangeset(new Uint8Array(row.bytes));
      verifyChangeset(decoded, verifyKeyFromPublicKey(key.publicKey));
      expect(Buffer.from(row.hash).toString("hex")).toBe(Buffer.from(decoded.hash).toString("hex"));
    }
  });

  test("applies the ops: a later write wins, a delete leaves a tombstone", () => {
    const { db, zone, key, seal } = openTestNode(7);
    appendLocalChangeset(db, { zone, name: "d7", key, seal }, [{ key: "k", value: '"old"' }], 1000);
    appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [
        { key: "k", value: '"new"' },
        { key: "gone", value: "1" },
      ],
      2000,
    );
    appendLocalChangeset(db, { zone, name: "d7", key, seal }, [{ key: "gone", value: null }], 3000);
    const rows = db
      .select({ key: state.key, value: state.value, seq: state.seq })
      .from(state)
      .orderBy(asc(state.key))
      .all();
    expect(rows).toEqual([
      { key: "gone", value: null, seq: 3 },
      { key: "k", value: '"new"', seq: 2 },
    ]);
  });

  test("keeps the clock moving forward when the wall clock goes back", () => {
    const { db, zone, key, seal } = openTestNode(7);
    const a = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [{ key: "k", value: "1" }],
      5000,
    );
    const b = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [{ key: "k", value: "2" }],
      1000,
    );
    expect(b.hlc).toEqual({ ms: a.hlc.ms, counter: a.hlc.counter + 1 });
    expect(db.select({ value: state.value }).from(state).get()).toEqual({ value: "2" });
  });

  test("within one changeset the last write to a key is the one kept", () => {
    const { db, zone, key, seal } = openTestNode(7);
    const changeset = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal },
      [
        { key: "k", value: "1" },
        { key: "k", value: "2" },
      ],
      1000,
    );
    expect(changeset.ops).toEqual([{ key: "k", value: "2" }]);
  });
});

describe("a write beside another connection", () => {
  test("another process writing in between does not make a local write fail", () => {
    const { db, zone, key, seal } = openTestNode(7);
    appendLocalChangeset(db, { zone, name: "d7", key, seal }, [{ key: "a", value: "1" }], 1000);
    // Another connection (as a CLI command opening the home) commits a write just after
    // this transaction began and read: a deferred transaction then fails at its first
    // write with "database is locked", at once, whatever the busy timeout.
    const other = new Database(db.$client.filename);
    other.run("PRAGMA busy_timeout = 0");
    const between = Object.create(seal) as typeof seal;
    between.tally = (sqlite) => {
      sqlite.query("SELECT count(*) FROM state").get();
      try {
        other.run("CREATE TABLE IF NOT EXISTS elsewhere (x)");
      } catch {
        // This transaction holds the write lock already: the other one waits its turn.
      }
      return seal.tally(sqlite);
    };
    const written = appendLocalChangeset(
      db,
      { zone, name: "d7", key, seal: between },
      [{ key: "b", value: "2" }],
      2000,
    );
    expect(written.seq).toBe(2);
    other.close();
  });
});

describe("a local write's durability", () => {
  // A changeset leaves for the peers once committed: lost to a power cut, its seq would be
  // signed again (equivocation). So each local write syncs the write-ahead log itself,
  // which SQLite's NORMAL level leaves to the next checkpoint. Counted with strace in a
  // process of its own: the calls between two markers are the five writes' alone.
  test("each local write syncs the database's log before it returns", async () => {
    const syncs = await syncsBetweenMarks(`
import { appendLocalChangeset } from ${JSON.stringify(join(import.meta.dir, "feed.ts"))};
import { openTestNode } from ${JSON.stringify(join(import.meta.dir, "test-db.ts"))};
const { db, zone, key, seal } = openTestNode(7);
const author = { zone, name: "d7", key, seal };
appendLocalChangeset(db, author, [{ key: "a", value: "0" }], 1000);
mark("begin");
for (let i = 1; i <= 5; i++) appendLocalChangeset(db, author, [{ key: "a", value: String(i) }], 1000 + i);
mark("end");
`);
    expect(syncs).toBeGreaterThanOrEqual(5);
  });
});
