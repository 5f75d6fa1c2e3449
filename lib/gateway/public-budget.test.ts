import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { signBudget } from "../../protocol/zone-budget.ts";
import { testOwner } from "../state/test-db.ts";
import {
  describePublicPastBudget,
  PUBLIC_BUDGET_BYTES,
  PUBLIC_BUDGET_KEY,
  PUBLIC_PREFIX,
  publicBudget,
  publicPastBudgetNotes,
} from "./public-budget.ts";

const zone = zoneIdFromPublicKey(testOwner.publicKey);
/** A budget as the owner's device writes it: signed by the owner key (`owner`). */
const signed = (bytes: number, owner = testOwner) =>
  signBudget({
    key: PUBLIC_BUDGET_KEY,
    zone,
    bytes,
    atMs: Date.parse("2026-12-01T00:00:00.000Z"),
    owner,
  });

/** A state table of the records given: id (its letter repeated) → its value. */
function stateOf(records: Record<string, unknown>, budget?: unknown): Database {
  const db = new Database(":memory:");
  db.run(
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT, hlc_ms INTEGER, hlc_counter INTEGER, author TEXT)",
  );
  db.run("CREATE TABLE node (zone_id TEXT)");
  db.run("INSERT INTO node VALUES (?)", [zone]);
  writeRecords(db, records, "dev-alpha", 1000);
  if (budget !== undefined)
    db.run("INSERT INTO state VALUES (?, ?, 1000, 0, 'dev-alpha')", [
      PUBLIC_BUDGET_KEY,
      JSON.stringify(budget),
    ]);
  return db;
}

/** Writes `records` as `author` did, one after another from `hlcMs` by its clock. */
function writeRecords(
  db: Database,
  records: Record<string, unknown>,
  author: string,
  hlcMs: number,
) {
  for (const [counter, [letter, value]] of Object.entries(records).entries())
    db.run("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?)", [
      `${PUBLIC_PREFIX}${idOf(letter)}`,
      typeof value === "string" || value === null ? value : JSON.stringify(value),
      hlcMs,
      counter,
      author,
    ]);
}

const idOf = (letter: string) => `sha256:${letter.repeat(64)}`;
const ids = (records: readonly { id: string }[]) => records.map((record) => record.id);

describe("the zone's budget for public files", () => {
  test("each object, in the order made public, is within while it still fits", () => {
    const db = stateOf(
      {
        a: { size: 60, at: "2026-12-01T00:00:01.000Z" },
        b: { size: 50, at: "2026-12-01T00:00:02.000Z" },
        c: { size: 40, at: "2026-12-01T00:00:03.000Z" },
      },
      signed(100),
    );
    const budget = publicBudget(db);
    expect([ids(budget.within), ids(budget.past), budget.budgetBytes]).toEqual([
      [idOf("a"), idOf("c")],
      [idOf("b")],
      100,
    ]);
    expect(publicPastBudgetNotes(db)).toEqual([{ files: 1, bytes: 50, budgetBytes: 100 }]);
    expect(describePublicPastBudget({ files: 1, bytes: 50, budgetBytes: 100 })).toStartWith(
      "1 public file (50 B) is past the zone's budget for public files (100 B): no gateway copies or serves it;",
    );
  });

  test("a member's record, whatever its size and time, pushes only its own objects past it", () => {
    const db = stateOf(
      {
        a: { size: 30, at: "2026-12-01T00:00:01.000Z" },
        b: { size: 30, at: "2026-12-01T00:00:02.000Z" },
      },
      signed(100),
    );
    writeRecords(db, { f: { size: 100, at: "" } }, "dev-mallory", 0);
    const budget = publicBudget(db);
    expect([ids(budget.within), ids(budget.past)]).toEqual([[idOf("a"), idOf("b")], [idOf("f")]]);
  });

  test("a record with no size a file can have is past it, whatever the budget", () => {
    const db = stateOf({
      a: { size: -1, at: "x" },
      b: { size: "big", at: "x" },
      c: "not json",
      d: { size: 1.5 },
      e: null,
    });
    const budget = publicBudget(db);
    expect([ids(budget.within), ids(budget.past)]).toEqual([
      [],
      // In the order written, as the state keeps it, whatever their own times say.
      [idOf("a"), idOf("b"), idOf("c"), idOf("d")],
    ]);
  });

  test("a budget the zone did not set, or set to no number of bytes, is the default", () => {
    for (const budget of [undefined, "lots", -5, 1.5, null])
      expect(publicBudget(stateOf({}, budget)).budgetBytes).toBe(PUBLIC_BUDGET_BYTES);
    // A plain number (any member could write one before the owner's rule), a budget a
    // member signed, or the owner's with its bytes altered: none is the owner's.
    const member = signingKeyFromSeed(new Uint8Array(32).fill(9));
    for (const budget of [100, signed(100, member), { ...signed(100), bytes: 5 }])
      expect(publicBudget(stateOf({}, budget)).budgetBytes).toBe(PUBLIC_BUDGET_BYTES);
    expect(publicPastBudgetNotes(stateOf({ a: { size: 1, at: "x" } }))).toEqual([]);
  });
});
