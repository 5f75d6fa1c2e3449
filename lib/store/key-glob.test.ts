import { describe, expect, test } from "bun:test";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode } from "../state/test-db.ts";
import { keyGlob } from "./key-glob.ts";
import { state } from "./schema.ts";

describe("keyGlob", () => {
  const { db, zone, key, seal } = openTestNode(70);
  const keys = [
    "nodes/d70/relay",
    "Nodes/d70/relay",
    "nodes/d70/relay/x",
    "notes/a_b",
    "notes/aXb",
  ];
  appendLocalChangeset(
    db,
    { zone, name: "d70", key, seal },
    keys.map((k) => ({ key: k, value: "1" })),
    Date.now(),
  );
  const matching = (pattern: string) =>
    db
      .select({ key: state.key })
      .from(state)
      .where(keyGlob(pattern))
      .all()
      .map((row) => row.key)
      .sort();

  test("keeps case, and `*` is any run of characters", () => {
    expect(matching("nodes/*/relay")).toEqual(["nodes/d70/relay"]);
    expect(matching("nodes/d70/*")).toEqual(["nodes/d70/relay", "nodes/d70/relay/x"]);
  });

  test("`_` is itself, not a wildcard", () => {
    expect(matching("notes/a_*")).toEqual(["notes/a_b"]);
  });

  test("is answered by the key's index from its constant prefix", () => {
    const plan = db.$client
      .query("EXPLAIN QUERY PLAN SELECT key FROM state WHERE key GLOB 'nodes/*/relay'")
      .all()
      .map((row) => (row as { detail: string }).detail)
      .join("\n");
    expect(plan).toContain("SEARCH state USING");
    expect(plan).not.toContain("SCAN state");
  });

  test("refuses a pattern with GLOB's other special characters", () => {
    expect(() => keyGlob("nodes/?/relay")).toThrow("not a state key pattern");
    expect(() => keyGlob("nodes/[a-z]/relay")).toThrow("not a state key pattern");
  });
});
