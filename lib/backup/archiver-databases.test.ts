/**
 * SQLite databases in an app's data, archived while the app (honest or hostile) works on
 * them: what the snapshot holds must restore to one moment of the database, and nothing the
 * app puts in place of a database may hold up, break or mislead the archiver.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { ReplicaDb } from "../replica/replica-db.ts";
import { takeSnapshot } from "../replica/snapshot.ts";
import { Archiver } from "./archiver.ts";
import { openConfined } from "./confined-open.ts";
import { databaseFiles } from "./database-files.ts";
import { imageBytes, SETTLED_MS, sqliteImageOf } from "./sqlite-image.ts";
import { memoryJournalWriter, memorySink } from "./test-repository.ts";

const scratch = realpathSync(mkdtempSync(join(tmpdir(), "bucky-archiver-databases-")));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${++dirs}`);
  mkdirSync(dir);
  return dir;
};

/** The files a snapshot of `dataDir` holds, by name, with their bytes. */
async function snapshotFiles(dataDir: string): Promise<Map<string, Uint8Array>> {
  const db = new ReplicaDb(join(newDir(), "replica.db"));
  try {
    const head = await takeSnapshot({
      db,
      dataDir,
      cacheDir: join(newDir(), "cache"),
      head: { app: "notes", epoch: 1, seq: 1, holder: "nas", at: 1000, final: false },
    });
    const files = new Map<string, Uint8Array>();
    const data = decodeTree(db.get(head.root) as Uint8Array).find((n) => n.name === "data");
    const subtree = (data as TreeNode & { subtree: string }).subtree;
    for (const node of decodeTree(db.get(subtree) as Uint8Array))
      if (node.type === "file")
        files.set(node.name, Buffer.concat(node.content.map((id) => db.get(id) as Uint8Array)));
    return files;
  } finally {
    db.close();
  }
}

/** The snapshot's files written out as a restore would, and the database among them opened. */
function restored(files: Map<string, Uint8Array>, name: string): Database {
  const dir = newDir();
  for (const [file, bytes] of files) writeFileSync(join(dir, file), bytes);
  return new Database(join(dir, name));
}

function notes(path: string, rows: number, mode = "WAL"): Database {
  const db = new Database(path, { create: true });
  db.run(`PRAGMA journal_mode = ${mode}`);
  db.run("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
  db.run("CREATE INDEX tx ON t (x)");
  db.transaction(() => {
    for (let i = 0; i < rows; i++) db.run("INSERT INTO t (x) VALUES (?)", [`v1-${i}`]);
  })();
  return db;
}

/**
 * A journaled database at `path` whose writer was killed part way through a commit: its
 * cache spilled into the file, its journal left hot. Its rows keep their sizes, so the
 * file it left reads without error, part of them changed.
 */
function killedMidCommit(path: string): void {
  const app = notes(path, 20_000, "DELETE");
  app.run("DROP INDEX tx");
  app.close();
  const writer = Bun.spawnSync([
    process.execPath,
    "-e",
    `const { Database } = require("bun:sqlite");
       const db = new Database(${JSON.stringify(path)});
       db.run("PRAGMA cache_size = 10");
       db.run("BEGIN");
       db.run("UPDATE t SET x = 'v2' || substr(x, 3)");
       process.kill(process.pid, "SIGKILL");`,
  ]);
  expect(writer.signalCode).toBe("SIGKILL");
  expect(existsSync(`${path}-journal`)).toBe(true);
}

/**
 * A database at `path` whose writer, its journal in memory, has put part of an update of
 * every row in the file and holds its transaction open. Its rows keep their sizes, and it
 * has no index: the file part way reads without error.
 */
function spilledMidTransaction(path: string) {
  const app = notes(path, 20_000, "DELETE");
  app.run("DROP INDEX tx");
  app.close();
  return memoryJournalWriter(path, "UPDATE t SET x = 'v2' || substr(x, 3)");
}

const integrity = (db: Database) =>
  (db.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map(
    (r) => r.integrity_check,
  );

describe("archiving an app's databases", () => {
  test("a FIFO named as a database beside a log is skipped, not waited on", async () => {
    const data = newDir();
    expect(spawnSync("mkfifo", [join(data, "notes.db")]).status).toBe(0);
    writeFileSync(join(data, "notes.db-wal"), "not a log");
    const files = await snapshotFiles(data);
    expect([...files.keys()]).toEqual(["notes.db-wal"]);
  });

  test("a database named at the longest a name may be (no room for its log's name) is kept", async () => {
    const data = newDir();
    const name = `${"n".repeat(252)}.db`;
    notes(join(data, "notes.db"), 10, "DELETE").close();
    renameSync(join(data, "notes.db"), join(data, name));
    const files = await snapshotFiles(data);
    expect(restored(files, name).query("SELECT count(*) AS n FROM t").get()).toEqual({ n: 10 });
  });

  test("a database at rest whose journal mode keeps an empty journal is imaged", async () => {
    for (const mode of ["TRUNCATE", "PERSIST"]) {
      const data = newDir();
      notes(join(data, "notes.db"), 100, mode).close();
      expect(existsSync(join(data, "notes.db-journal"))).toBe(true);
      await Bun.sleep(SETTLED_MS);
      // Imaged: it stands alone, its idle journal left out.
      expect([...(await snapshotFiles(data)).keys()]).toEqual(["notes.db"]);
    }
  });

  test("a database whose writer was killed part way keeps its journal, and restores whole", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    killedMidCommit(path);
    const files = await snapshotFiles(data);
    expect([...files.keys()].sort()).toEqual(["notes.db", "notes.db-journal"]);
    const db = restored(files, "notes.db");
    expect(integrity(db)).toEqual(["ok"]);
    expect(db.query("SELECT count(*) AS n, sum(x LIKE 'v1-%') AS v1 FROM t").get()).toEqual({
      n: 20_000,
      v1: 20_000,
    });
  });

  test("a database read as a file leaves its journal out when it was written while read", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    killedMidCommit(path);
    // Whatever the archiver stores next, the database is written meanwhile (its change time
    // moves): its journal, read after it, would be of another moment.
    let written = false;
    const { sink, blobs } = memorySink(() => {
      if (!written) {
        written = true;
        chmodSync(path, 0o640);
      }
    });
    const result = await new Archiver(sink, undefined, undefined, newDir()).archive(
      new Map([["data", { kind: "dir", path: data }]]),
    );
    const dataTree = decodeTree(blobs.get(result.tree) as Uint8Array)[0] as TreeNode & {
      subtree: string;
    };
    const names = decodeTree(blobs.get(dataTree.subtree) as Uint8Array).map((node) => node.name);
    expect([names, result.changing]).toEqual([["notes.db"], ["data/notes.db"]]);
  });

  test("a database whose writer, its journal in memory, is part way is kept as read and said to be changing", async () => {
    const data = newDir();
    const spilled = spilledMidTransaction(join(data, "notes.db"));
    try {
      await spilled.ready;
      await Bun.sleep(SETTLED_MS);
      const { sink } = memorySink();
      const result = await new Archiver(sink, undefined, undefined, newDir()).archive(
        new Map([["data", { kind: "dir", path: data }]]),
      );
      // Half a transaction, which nothing in the file marks as such: never passed as whole.
      expect(result.changing).toEqual(["data/notes.db"]);
    } finally {
      spilled.child.kill("SIGKILL");
      await spilled.child.exited;
    }
  });

  test("a sparse file named as a database's log is neither copied nor read", async () => {
    const data = newDir();
    notes(join(data, "notes.db"), 10, "DELETE").close();
    writeFileSync(join(data, "notes.db-wal"), "");
    truncateSync(join(data, "notes.db-wal"), 64 * 1024 ** 3);
    await Bun.sleep(SETTLED_MS);
    const started = performance.now();
    const files = await snapshotFiles(data);
    // Reading 64 GiB of holes takes minutes here; copying them fills the disk.
    expect(performance.now() - started).toBeLessThan(4000);
    expect([...files.keys()]).toEqual(["notes.db"]);
  });
});

describe("an image of one moment", () => {
  /** The files of the database at `path`, as the archiver holds them; `close` lets go of both. */
  const held = (path: string) => {
    const database = openConfined(path, scratch, lstatSync(path, { bigint: true })) as number;
    const files = databaseFiles(path, database, scratch);
    return {
      files,
      close: () => {
        files.close();
        closeSync(database);
      },
    };
  };

  /**
   * The image of the database at `path` when, asked whether all is quiet just before the
   * copy, a connection runs `sql` and closes: how often it was asked, and the image.
   */
  const imagedWhileWritten = (path: string, sql: string) => {
    const { files, close } = held(path);
    let asked = 0;
    try {
      const image = sqliteImageOf(
        {
          ...files,
          quiet: () => {
            if (asked++ === 0) {
              const writer = new Database(path);
              writer.run(sql);
              writer.close();
            }
            return files.quiet();
          },
        },
        newDir(),
      );
      return { asked, image };
    } finally {
      close();
    }
  };

  test("is refused while a writer with no journal on disk has spilled part of its transaction into the file", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    const writer = (sql: string, at = path) => memoryJournalWriter(at, sql);
    // Its pages in the file, its change counter the old one, no journal file: only the lock
    // it holds says so.
    const spilled = spilledMidTransaction(path);
    try {
      await spilled.ready;
      expect(existsSync(`${path}-journal`)).toBe(false);
      await Bun.sleep(SETTLED_MS);
      const { files, close } = held(path);
      try {
        expect(sqliteImageOf(files, newDir())).toBeUndefined();
      } finally {
        close();
      }
    } finally {
      spilled.child.kill("SIGKILL");
      await spilled.child.exited;
    }
    // A transaction begun whose pages are all still in its cache leaves the file as it was.
    const other = join(data, "other.db");
    notes(other, 100, "DELETE").close();
    const begun = writer("INSERT INTO t (x) VALUES ('v3')", other);
    try {
      await begun.ready;
      await Bun.sleep(SETTLED_MS);
      const { files, close } = held(other);
      try {
        const image = sqliteImageOf(files, newDir());
        expect(image).toBeDefined();
        const db = Database.deserialize(imageBytes(image as number));
        expect(db.query("SELECT count(*) AS n FROM t WHERE x = 'v3'").get()).toEqual({ n: 0 });
      } finally {
        close();
      }
    } finally {
      begun.child.kill("SIGKILL");
      await begun.child.exited;
    }
  });

  test("is refused when the log was deleted and the database written anew since it was opened", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    const app = notes(path, 2000);
    app.run("PRAGMA wal_autocheckpoint = 0");
    app.run("PRAGMA wal_checkpoint(TRUNCATE)");
    app.run("UPDATE t SET x = 'v1b-' || id WHERE id < 40");
    await Bun.sleep(SETTLED_MS);
    const { files, close } = held(path);
    try {
      // The app's last connection closes (its log folded in and deleted); another writes,
      // folds and closes: the log held is one whose frames the file already has.
      app.close();
      expect(existsSync(`${path}-wal`)).toBe(false);
      const next = new Database(path);
      next.run("DELETE FROM t WHERE id % 3 = 0");
      next.run("UPDATE t SET x = 'v2-' || id");
      next.close();
      await Bun.sleep(SETTLED_MS); // left alone since: only the log held tells
      expect(sqliteImageOf(files, newDir())).toBeUndefined();
    } finally {
      close();
    }
  });

  test("is refused when the database file is written while it is copied", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    notes(path, 2000).close();
    await Bun.sleep(SETTLED_MS);
    // A connection opens, commits and closes, folding its log into the file (its first
    // page, with the change counter, untouched).
    expect(imagedWhileWritten(path, "UPDATE t SET x = 'v2-' || id WHERE id > 1000")).toEqual({
      asked: 2,
      image: undefined,
    });
  });

  test("is refused when a connection writes the file in place while it is copied, its change counter untouched", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    // No index: an update of rows of the same size writes their pages alone, not page 1.
    const app = notes(path, 20_000);
    app.run("DROP INDEX tx");
    app.close();
    await Bun.sleep(SETTLED_MS);
    const counter = () => readFileSync(path).subarray(24, 28).join(",");
    const counterBefore = counter();
    // A WAL connection opens, commits and closes, folding its log into the file in place
    // and deleting it.
    const imaged = imagedWhileWritten(
      path,
      "UPDATE t SET x = 'v2' || substr(x, 3) WHERE id > 10000",
    );
    expect([existsSync(`${path}-wal`), counter()]).toEqual([false, counterBefore]);
    expect(imaged).toEqual({ asked: 2, image: undefined });
  });

  test("a log whose header's salts are zeros, as a hole's, is not copied hole by hole", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    notes(path, 10).close();
    // A log of one header, its salts zeros, and 64 GiB of holes after it.
    const header = new Uint8Array(32);
    new DataView(header.buffer).setUint32(0, 0x377f0682);
    new DataView(header.buffer).setUint32(4, 3007000);
    new DataView(header.buffer).setUint32(8, 4096);
    writeFileSync(`${path}-wal`, header);
    truncateSync(`${path}-wal`, 64 * 1024 ** 3);
    await Bun.sleep(SETTLED_MS);
    const { files, close } = held(path);
    try {
      const started = performance.now();
      const image = sqliteImageOf(files, newDir());
      expect(performance.now() - started).toBeLessThan(2000);
      expect(
        Database.deserialize(imageBytes(image as number))
          .query("SELECT count(*) AS n FROM t")
          .get(),
      ).toEqual({ n: 10 });
    } finally {
      close();
    }
  });

  test("copies only the log's frames: holes past them are neither copied nor read", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    const app = notes(path, 500);
    app.run("PRAGMA wal_autocheckpoint = 0");
    app.run("UPDATE t SET x = 'in the log' WHERE id = 1");
    truncateSync(`${path}-wal`, 64 * 1024 ** 3);
    await Bun.sleep(SETTLED_MS);
    const { files, close } = held(path);
    try {
      const started = performance.now();
      const image = Database.deserialize(imageBytes(sqliteImageOf(files, newDir()) as number));
      expect(performance.now() - started).toBeLessThan(2000);
      expect(image.query("SELECT x FROM t WHERE id = 1").get()).toEqual({ x: "in the log" });
    } finally {
      close();
      app.close();
    }
  });

  test("is made of a database left alone, its log included", async () => {
    const data = newDir();
    const path = join(data, "notes.db");
    const app = notes(path, 500);
    app.run("PRAGMA wal_autocheckpoint = 0");
    app.run("UPDATE t SET x = 'in the log' WHERE id = 1");
    await Bun.sleep(SETTLED_MS);
    const { files, close } = held(path);
    try {
      const image = Database.deserialize(imageBytes(sqliteImageOf(files, newDir()) as number));
      expect(image.query("SELECT x FROM t WHERE id = 1").get()).toEqual({ x: "in the log" });
      expect(integrity(image)).toEqual(["ok"]);
    } finally {
      close();
      app.close();
    }
  });
});
