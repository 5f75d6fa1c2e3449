import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { FILES_BUDGET_KEY, PUBLIC_BUDGET_KEY, signBudget } from "../../protocol/zone-budget.ts";
import { describeUnsignedBudget, unsignedBudgetNotes } from "./budgets.ts";
import { testOwner } from "./test-db.ts";

const zone = zoneIdFromPublicKey(testOwner.publicKey);
const BUDGETS = [
  { key: PUBLIC_BUDGET_KEY, defaultBytes: 8 * 1024 ** 3 },
  { key: FILES_BUDGET_KEY, defaultBytes: 32 * 1024 ** 3 },
] as const;

/** A state table holding `values` (key → its value as written). */
function stateOf(values: Record<string, string>): Database {
  const db = new Database(":memory:");
  db.run("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)");
  db.run("CREATE TABLE node (zone_id TEXT)");
  db.run("INSERT INTO node VALUES (?)", [zone]);
  for (const [key, value] of Object.entries(values))
    db.run("INSERT INTO state VALUES (?, ?)", [key, value]);
  return db;
}

describe("a budget the owner did not sign", () => {
  test("is said, with the default that applies instead and how to set it again", () => {
    const db = stateOf({
      // A plain number, written before budgets were the owner's.
      [FILES_BUDGET_KEY]: "1000",
      [PUBLIC_BUDGET_KEY]: JSON.stringify(
        signBudget({ key: PUBLIC_BUDGET_KEY, zone, bytes: 5, atMs: 1000, owner: testOwner }),
      ),
    });
    const notes = unsignedBudgetNotes(db, BUDGETS);
    expect(notes).toEqual([{ key: FILES_BUDGET_KEY, defaultBytes: 32 * 1024 ** 3 }]);
    expect(notes.map(describeUnsignedBudget)).toEqual([
      "system/files-budget holds a budget the owner did not sign: the default 32.0 GiB applies; set it again with `bucky state set system/files-budget <bytes>` on a device holding the owner key",
    ]);
  });

  test("is not said where no budget was set, or the owner's is", () => {
    expect(unsignedBudgetNotes(stateOf({}), BUDGETS)).toEqual([]);
  });
});
