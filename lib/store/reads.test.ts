import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readAllEngineFacts } from "../images/engine-facts.ts";
import { openStateDb } from "./db.ts";
import { sqliteOf, stateRowsMatching, stateRowsUnder, stateValue } from "./reads.ts";
import { state } from "./schema.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-reads-"));
afterAll(() => rmSync(dir, { recursive: true }));

function row(key: string, value: string | null) {
  return { key, value, hlcMs: 1, hlcCounter: 0, author: "d", seq: 1 };
}

test("a read inside a transaction runs on its connection and sees what it wrote", () => {
  const db = openStateDb(join(dir, "tx.db"), { create: true });
  expect(() =>
    db.transaction((tx) => {
      expect(sqliteOf(tx)).toBe(db.$client);
      tx.insert(state).values(row("a/x", '"in the transaction"')).run();
      expect(stateValue(tx, "a/x")).toBe('"in the transaction"');
      tx.rollback();
    }),
  ).toThrow("Rollback");
  expect(stateValue(db, "a/x")).toBeUndefined();
  db.$client.close();
});

test("values, tombstones and prefixes read as drizzle's queries read them", () => {
  const db = openStateDb(join(dir, "rows.db"), { create: true });
  db.insert(state)
    .values([
      row("apps/a", '"a"'),
      row("apps/b", null),
      row("apps/", '"the prefix itself"'),
      row("apps0", '"after the prefix"'),
      row("app", '"before it"'),
      row("nodes/d1/engine", "1"),
      row("nodes/d1/x/engine", "2"),
    ])
    .run();
  expect([stateValue(db, "apps/a"), stateValue(db, "apps/b"), stateValue(db, "apps/c")]).toEqual([
    '"a"',
    null,
    undefined,
  ]);
  expect(stateRowsUnder(db, "apps/").sort((x, y) => x.key.localeCompare(y.key))).toEqual([
    { key: "apps/", value: '"the prefix itself"' },
    { key: "apps/a", value: '"a"' },
  ]);
  expect(stateRowsMatching(db, "nodes/*/engine").map((r) => r.key)).toEqual([
    "nodes/d1/engine",
    "nodes/d1/x/engine",
  ]);
  expect(stateRowsMatching(db, "apps/*").find((r) => r.key === "apps/b")).toEqual({
    key: "apps/b",
    value: null,
  });
  db.$client.close();
});

test("a key that differs from a ruled one only in case is not read as it", () => {
  const db = openStateDb(join(dir, "case.db"), { create: true });
  // Any member may write these (write rules go by the exact spelling): a forger's keys.
  db.insert(state)
    .values([
      row("Nodes/a/engine", JSON.stringify({ engine: "podman 99", platform: "linux/amd64" })),
      row("NODES/b/holds/notes", "{}"),
      row("nodes/c/engine", JSON.stringify({ engine: "podman 4", platform: "linux/amd64" })),
    ])
    .run();
  expect([...readAllEngineFacts(db).keys()]).toEqual(["c"]);
  expect(stateRowsMatching(db, "nodes/*/holds/*")).toEqual([]);
  db.$client.close();
});

test("a pattern with GLOB's other special characters is refused, not run", () => {
  const db = openStateDb(join(dir, "pattern.db"), { create: true });
  expect(() => stateRowsMatching(db, "nodes/?/engine")).toThrow("not a state key pattern");
  expect(() => stateRowsMatching(db, "nodes/[ab]/engine")).toThrow("not a state key pattern");
  db.$client.close();
});
