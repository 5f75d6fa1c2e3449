import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  constants,
  mkdirSync,
  mkdtempSync,
  openSync,
  renameSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { imageBytes, sqliteImage, sqliteImageOf } from "./sqlite-image.ts";

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

describe("sqliteImageOf", () => {
  /** A database in WAL mode at `path`, its commits left in its log, holding `rows`. */
  function database(path: string, rows: string[]): Database {
    const writer = new Database(path, { create: true });
    writer.run("PRAGMA journal_mode = WAL");
    writer.run("PRAGMA wal_autocheckpoint = 0");
    writer.run("CREATE TABLE t (x)");
    for (const row of rows) writer.run("INSERT INTO t VALUES (?)", [row]);
    return writer;
  }
  const rowsOf = (image: Uint8Array) =>
    (Database.deserialize(image).query("SELECT x FROM t").all() as { x: string }[]).map((r) => r.x);
  const open = (path: string) => openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);

  test("images the files its descriptors hold, log included, whatever their names lead to by then", () => {
    const tree = join(dir, "app-data");
    const elsewhere = join(dir, "home");
    mkdirSync(join(tree, "d"), { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    const app = database(join(tree, "d", "notes.db"), ["the app's own"]);
    const secret = database(join(elsewhere, "notes.db"), ["not the app's"]);
    const files = {
      database: open(join(tree, "d", "notes.db")),
      log: open(join(tree, "d", "notes.db-wal")),
      quiet: () => true,
    };
    // The app swaps the directory above its database for a link out of its tree.
    renameSync(join(tree, "d"), join(tree, "d.real"));
    symlinkSync(elsewhere, join(tree, "d"));
    try {
      // By the descriptors, the app's own, log included. (By name, SQLite refuses a path
      // with a link in it when it looks, but opens what the path leads to a moment later:
      // swapped between the two, the link took it out of the tree.)
      expect(rowsOf(imageBytes(sqliteImageOf(files, join(dir, "scratch"), 0) as number))).toEqual([
        "the app's own",
      ]);
    } finally {
      closeSync(files.database);
      closeSync(files.log);
      app.close();
      secret.close();
    }
  });

  test("a database with no log is imaged from its file alone", async () => {
    const path = join(dir, "plain.db");
    const writer = new Database(path, { create: true });
    writer.run("CREATE TABLE t (x)");
    writer.run("INSERT INTO t VALUES ('one')");
    writer.close();
    // Even left alone for no time, a file changed within the clock's present millisecond
    // is not yet left alone (it failed so, once in some runs).
    await Bun.sleep(2);
    const fd = open(path);
    try {
      expect(
        rowsOf(
          imageBytes(
            sqliteImageOf(
              { database: fd, log: undefined, quiet: () => true },
              join(dir, "scratch"),
              0,
            ) as number,
          ),
        ),
      ).toEqual(["one"]);
    } finally {
      closeSync(fd);
    }
  });
});
