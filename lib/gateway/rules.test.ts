/**
 * The zone's rules as every gateway reads them: any member writes under system/rules/,
 * so a rule is one only at the key of its own id.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, removeTestDatabases, testZone } from "../state/test-db.ts";
import { readRules } from "./rules.ts";

afterAll(removeTestDatabases);

describe("the zone's rules", () => {
  test("are read at system/rules/<id> alone: a rule elsewhere is none (bucky rule remove could not find it)", () => {
    const node = openTestNode(94);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    const rule = (id: string) => JSON.stringify({ id, action: "block", app: "*" });
    appendLocalChangeset(
      node.db,
      author,
      [
        { key: "system/rules/r1", value: rule("r1") },
        // What a member may write: keys of more segments, and another id than its key's.
        { key: "system/rules/r2/x", value: rule("r2") },
        { key: "system/rules/notes/data", value: rule("notes/data") },
        { key: "system/rules/r3", value: rule("r4") },
      ],
      2000,
    );
    expect(readRules(node.db).map((r) => r.id)).toEqual(["r1"]);
  });

  test("a client address written before addresses were checked reads as the gateway sees it", () => {
    const node = openTestNode(95);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    const rule = (id: string, client: string) =>
      JSON.stringify({ id, action: "block", app: "*", client });
    appendLocalChangeset(
      node.db,
      author,
      [
        { key: "system/rules/m", value: rule("m", "::ffff:192.0.2.7") },
        { key: "system/rules/u", value: rule("u", "2001:DB8::1") },
        { key: "system/rules/n", value: rule("n", "not an address") },
      ],
      2000,
    );
    const clients = Object.fromEntries(readRules(node.db).map((r) => [r.id, r.client]));
    expect(clients).toEqual({ m: "192.0.2.7", u: "2001:db8::1", n: "not an address" });
  });
});
