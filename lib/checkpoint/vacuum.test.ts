/**
 * The space pruning freed is given back a step at a time: the event loop turns between
 * steps, so the daemon answers while a long history is given back.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLog } from "../log.ts";
import { giveBackPages } from "./vacuum.ts";

const scratch = mkdtempSync(join(tmpdir(), "bucky-vacuum-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("giving back freed pages", () => {
  test("takes steps, the event loop turning between them", async () => {
    const sqlite = new Database(join(scratch, "state.db"));
    sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
    sqlite.run("PRAGMA journal_mode = WAL");
    sqlite.run("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)");
    const insert = sqlite.prepare("INSERT INTO t (v) VALUES (?)");
    const row = new Uint8Array(3000);
    sqlite.transaction(() => {
      for (let i = 0; i < 12_000; i++) insert.run(row);
    })();
    sqlite.run("DELETE FROM t");
    const free = () =>
      (sqlite.query("PRAGMA freelist_count").get() as { freelist_count: number }).freelist_count;
    const before = free();
    expect(before).toBeGreaterThan(8_000);
    let settled = false;
    const giving = giveBackPages(sqlite, createLog({ level: "silent" })).finally(() => {
      settled = true;
    });
    // A timer that runs while some pages are given back and some are not.
    const seen = await new Promise<number>((resolve) => setTimeout(() => resolve(free()), 0));
    expect(settled).toBe(false);
    expect(seen).toBeLessThan(before);
    expect(seen).toBeGreaterThan(0);
    expect(await giving).toMatchObject({ afterBytes: expect.any(Number) });
    expect(free()).toBe(0);
    sqlite.close();
  });
});
