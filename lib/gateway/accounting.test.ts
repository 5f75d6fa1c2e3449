/** Counting requests: counts that cannot be written yet wait for the next flush, never lost. */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { openTestNode } from "../state/test-db.ts";
import { traffic } from "../store/schema.ts";
import { Accounting, MAX_CLIENTS_A_MINUTE, OTHER_CLIENTS, TRAFFIC_KEPT_MS } from "./accounting.ts";

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

  test("counts older than the time they are kept are deleted, once an hour; the rest stay", () => {
    const { db } = openTestNode(63);
    const startMs = Date.parse("2026-11-29T03:00:00Z");
    let nowMs = startMs;
    const accounting = new Accounting(db, () => nowMs);
    accounting.count("notes", "192.0.2.1", 1, 2);
    accounting.flush();
    nowMs = startMs + TRAFFIC_KEPT_MS - 2 * 3_600_000;
    accounting.count("notes", "192.0.2.2", 1, 2);
    accounting.flush();
    const clients = () =>
      db
        .select()
        .from(traffic)
        .all()
        .map((row) => row.client)
        .sort();
    expect(clients()).toEqual(["192.0.2.1", "192.0.2.2"]);
    // Past the time kept for the first: gone at the next flush, the second kept.
    nowMs = startMs + TRAFFIC_KEPT_MS + 60_000;
    accounting.flush();
    expect(clients()).toEqual(["192.0.2.2"]);
    // Not looked at again within the hour: a count written meanwhile from long ago stays.
    db.insert(traffic)
      .values({
        app: "notes",
        client: "192.0.2.9",
        minute: 0,
        requests: 1,
        bytesIn: 0,
        bytesOut: 0,
      })
      .run();
    nowMs += 30 * 60_000;
    accounting.flush();
    expect(clients()).toEqual(["192.0.2.2", "192.0.2.9"]);
    nowMs += 31 * 60_000;
    accounting.flush();
    expect(clients()).toEqual(["192.0.2.2"]);
  });

  test("a connection held open is counted in the minutes that carried its bytes, and as one request at its end", () => {
    const { db } = openTestNode(121);
    let nowMs = Date.parse("2026-11-29T03:00:10Z");
    const accounting = new Accounting(db, () => nowMs);
    const carried = { bytesIn: 0, bytesOut: 0 };
    const end = accounting.holdOpen("game", "phone", () => carried);
    accounting.flush(); // nothing carried yet: no row
    expect(db.select().from(traffic).all()).toEqual([]);
    carried.bytesIn = 100;
    carried.bytesOut = 1_000;
    accounting.flush();
    nowMs += 60_000;
    carried.bytesOut = 5_000;
    accounting.flush();
    nowMs += 60_000;
    carried.bytesIn = 150;
    end();
    end(); // once
    accounting.flush();
    const minute = Math.floor(Date.parse("2026-11-29T03:00:10Z") / 60_000);
    expect(
      db
        .select()
        .from(traffic)
        .all()
        .map((row) => [row.minute - minute, row.requests, row.bytesIn, row.bytesOut]),
    ).toEqual([
      [0, 0, 100, 1_000],
      [1, 0, 0, 4_000],
      [2, 1, 50, 0],
    ]);
  });
});
