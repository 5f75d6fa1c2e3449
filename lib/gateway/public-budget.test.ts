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
  db.run("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)");
  db.run("CREATE TABLE node (zone_id TEXT)");
  db.run("INSERT INTO node VALUES (?)", [zone]);
  for (const [letter, value] of Object.entries(records))
    db.run("INSERT INTO state VALUES (?, ?)", [
      `${PUBLIC_PREFIX}${idOf(letter)}`,
      typeof value === "string" || value === null ? value : JSON.stringify(value),
    ]);
  if (budget !== undefined)
    db.run("INSERT INTO state VALUES (?, ?)", [PUBLIC_BUDGET_KEY, JSON.stringify(budget)]);
  return db;
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
      // Those with no time first: the order is the records' own, as every device reads them.
      [idOf("c"), idOf("d"), idOf("a"), idOf("b")],
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
