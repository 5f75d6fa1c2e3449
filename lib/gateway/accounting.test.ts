/** Counting requests: counts that cannot be written yet wait for the next flush, never lost. */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { openTestNode } from "../state/test-db.ts";
import { traffic } from "../store/schema.ts";
import { Accounting } from "./accounting.ts";

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
});
