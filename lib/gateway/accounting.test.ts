/** Counting requests: counts that cannot be written yet wait for the next flush, never lost. */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { openTestNode } from "../state/test-db.ts";
import { traffic } from "../store/schema.ts";
import { Accounting, MAX_CLIENTS_A_MINUTE, OTHER_CLIENTS } from "./accounting.ts";

describe("accounting", () => {
  test("a database another process holds keeps the counts for the next flush", () => {
    const { db } = openTestNode(61);
    db.$client.run("PRAGMA busy_timeout = 50");
    const accounting = new Accounting(db, () => Date.parse("2026-11-29T03:00:00Z"));
    accounting.count("notes", "phone", 10, 20);
    const holder = new Database(db.$client.filename);
    holder.run("BEGIN IMMEDIATE");
    expect(() => accounting.flush()).not.toThrow();
    holder.run("ROLLBACK");
    holder.close();
    accounting.count("notes", "phone", 1, 2);
    accounting.flush();
    expect(db.select().from(traffic).all()).toMatchObject([
      { app: "notes", client: "phone", requests: 2, bytesIn: 11, bytesOut: 22 },
    ]);
  });

  test("past the most clients counted apart in a minute, the others are counted together, nothing lost", () => {
    const { db } = openTestNode(62);
    let nowMs = Date.parse("2026-11-29T03:00:00Z");
    const accounting = new Accounting(db, () => nowMs);
    const addresses = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => `2001:db8::${(from + i).toString(16)}`);
    // Across flushes: a minute's bound holds whatever was written of it already.
    for (const client of addresses(0, MAX_CLIENTS_A_MINUTE - 1))
      accounting.count("site", client, 1, 2);
    accounting.flush();
    for (const client of addresses(MAX_CLIENTS_A_MINUTE - 1, 51))
      accounting.count("site", client, 1, 2);
    accounting.count("site", "2001:db8::0", 1, 2); // counted apart already: its own row
    accounting.count("notes", "2001:db8::ffff", 1, 2); // another app: bounds of its own
    accounting.flush();
    const rows = () =>
      db
        .select()
        .from(traffic)
        .all()
        .filter((row) => row.app === "site");
    expect(rows().length).toBe(MAX_CLIENTS_A_MINUTE + 1);
    expect(rows().find((row) => row.client === OTHER_CLIENTS)).toMatchObject({
      requests: 50,
      bytesIn: 50,
      bytesOut: 100,
    });
    expect(rows().find((row) => row.client === "2001:db8::0")?.requests).toBe(2);
    expect(rows().reduce((sum, row) => sum + row.requests, 0)).toBe(MAX_CLIENTS_A_MINUTE + 51);
    expect(
      db
        .select()
        .from(traffic)
        .all()
        .filter((row) => row.app === "notes").length,
    ).toBe(1);
    // The next minute counts new clients apart again.
    nowMs += 60_000;
    accounting.count("site", "2001:db8::beef", 1, 2);
    accounting.flush();
    expect(rows().filter((row) => row.client === "2001:db8::beef").length).toBe(1);
  });
});
