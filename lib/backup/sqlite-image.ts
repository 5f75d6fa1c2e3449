/**
 * A consistent image of a SQLite database while others write it. `serialize()` of a file
 * database copies the file alone, without what its write-ahead log holds (every commit
 * since the last checkpoint, minutes of writes for a busy app), so it is not used: the
 * image is made with `VACUUM INTO`, which reads one transaction's view through SQLite,
 * log included, into a fresh file (in rollback-journal mode, as a standalone copy should
 * be). The copy is compact, so its pages need not sit where the original's do.
 */
import { constants, Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

/** The database at `path` as one transaction sees it; undefined when SQLite cannot read it. */
export function sqliteImage(path: string, scratchDir: string): Uint8Array | undefined {
  // Never through a symbolic link: the caller checked the file it names.
  return vacuumedInto(
    path,
    scratchDir,
    constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_NOFOLLOW,
  );
}

/** `VACUUM INTO` of the database at `path`, opened with `flags`, read back. */
function vacuumedInto(path: string, scratchDir: string, flags: number): Uint8Array | undefined {
  let db: Database | undefined;
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const copy = join(scratchDir, `sqlite-image-${randomBytes(8).toString("hex")}.db`);
  try {
    db = new Database(path, flags);
    db.run("PRAGMA busy_timeout = 5000");
    db.query("VACUUM INTO ?1").run(copy);
    return new Uint8Array(readFileSync(copy));
  } catch {
    return undefined;
  } finally {
    db?.close();
    rmSync(copy, { force: true });
  }
}

/** What a database's files were at one moment, read through descriptors checked before. */
export interface DatabaseFiles {
  readonly database: number;
  /** Its write-ahead log, when it has one. */
  readonly log: number | undefined;
}

/**
 * The image of a database in a tree someone else writes (an app's data, read as root),
 * from its files' descriptors, checked to be the files inside the tree: they are copied into
 * `scratchDir` and imaged there. SQLite opens a database by name (its log and shared memory
 * beside it), and a directory above it swapped for a link between that check and SQLite's
 * open took it to a file outside the tree (the zone's state, another app's replica), which
 * the app then had in its own snapshot. The copy is of one moment when the log was not
 * started anew meanwhile (its header's salts are as before), nor a journaled database
 * written (its change counter is as before): a checkpoint meanwhile writes into the file only
 * what the log copied after it still holds. Undefined when it is not, or SQLite cannot read it.
 */
export function sqliteImageOf(files: DatabaseFiles, scratchDir: string): Uint8Array | undefined {
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const base = join(scratchDir, `sqlite-copy-${randomBytes(8).toString("hex")}`);
  const copy = `${base}.db`;
  try {
    const before = moment(files);
    copyInto(files.database, copy);
    if (files.log !== undefined) copyInto(files.log, `${copy}-wal`);
    if (!sameBytes(before, moment(files))) return undefined;
    // Our own copy: opened to write, so that SQLite can read its log (a reader of a log
    // needs its shared-memory index, which it makes beside it).
    return vacuumedInto(copy, scratchDir, constants.SQLITE_OPEN_READWRITE);
  } finally {
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(copy + suffix, { force: true });
  }
}

/** The database header's change counter and the log header's salts, as they are now. */
function moment(files: DatabaseFiles): Uint8Array {
  const at = new Uint8Array(12);
  readSync(files.database, at, 0, 4, 24);
  if (files.log !== undefined) readSync(files.log, at, 4, 8, 16);
  return at;
}

function copyInto(fd: number, path: string): void {
  const out = openSync(path, "wx", 0o600);
  try {
    const buffer = new Uint8Array(1 << 20);
    const size = fstatSync(fd).size;
    for (let at = 0; at < size; ) {
      const read = readSync(fd, buffer, 0, buffer.length, at);
      if (read === 0) break;
      writeSync(out, buffer, 0, read);
      at += read;
    }
  } finally {
    closeSync(out);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
