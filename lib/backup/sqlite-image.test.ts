import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteImage } from "./sqlite-image.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-sqlite-image-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sqliteImage", () => {
  test("holds what the write-ahead log holds, while the writer keeps it open", () => {
    const path = join(dir, "busy.db");
    const writer = new Database(path, { create: true });
    writer.run("PRAGMA journal_mode = WAL");
    writer.run("PRAGMA wal_autocheckpoint = 0");
    writer.run("CREATE TABLE t (x)");
    for (let i = 0; i < 500; i++) writer.run("INSERT INTO t VALUES (?)", [i]);
    const image = sqliteImage(path, join(dir, "scratch")) as Uint8Array;
    writer.close();
    const copy = Database.deserialize(image);
    expect(copy.query("SELECT COUNT(*) AS n FROM t").get()).toEqual({ n: 500 });
  });

  test("what SQLite cannot read is no image", () => {
    const path = join(dir, "not.db");
    Bun.write(path, "not a database at all, just text that is long enough to matter");
    expect(sqliteImage(path, join(dir, "scratch"))).toBeUndefined();
  });
});
