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
  mkdtempSync,
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
  /**
   * Whether these are still the database's files with no writer part way through: its log
   * still the one at its name (or none there, as when looked at), no hot rollback journal.
   * Asked before the copy and after it.
   */
  readonly quiet: () => boolean;
}

/**
 * How long the database file must have been left alone before it is copied. A file's
 * change time comes from the kernel's coarse clock, one tick (10 ms at most) at a time: a
 * write in the same tick as the last would leave it as it was, and go unseen.
 */
export const SETTLED_MS = 20;

/**
 * The image of a database in a tree someone else writes (an app's data, read as root),
 * from its files' descriptors, checked to be the files inside the tree: they are copied into
 * a directory of our own under `scratchDir` and imaged there. SQLite opens a database by
 * name (its log and shared memory beside it), and a directory above it swapped for a link
 * between that check and SQLite's open took it to a file outside the tree (the zone's state,
 * another app's replica), which the app then had in its own snapshot.
 *
 * The copy is of one moment when the database file was not written while it was copied
 * (its change time and size are as before, and it had been left alone SETTLED_MS before),
 * its log not started anew (the salts of the log's header are as before; frames appended
 * meanwhile are past what was copied, or torn and so not read), and `files.quiet()` held
 * before and after. Undefined when it is not, or SQLite cannot read it, or a file is
 * sparse: a log of a terabyte of holes costs an app nothing, and copying it all would hold
 * the daemon and fill the disk.
 */
export function sqliteImageOf(
  files: DatabaseFiles,
  scratchDir: string,
  settledMs = SETTLED_MS,
): Uint8Array | undefined {
  const before = moment(files);
  const settled = BigInt(Date.now() - settledMs) * 1_000_000n >= before.databaseChangedNs;
  if (!settled || !files.quiet()) return undefined;
  if (
    isSparse(fstatSync(files.database)) ||
    (files.log !== undefined && isSparse(fstatSync(files.log)))
  )
    return undefined;
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  // Our own directory (0700): nobody else can put a journal beside the copy for SQLite.
  const own = mkdtempSync(join(scratchDir, "sqlite-copy-"));
  const copy = join(own, "copy.db");
  try {
    copyInto(files.database, copy);
    if (files.log !== undefined) copyInto(files.log, `${copy}-wal`);
    if (!files.quiet() || !sameMoment(before, moment(files))) return undefined;
    // Our own copy: opened to write, so that SQLite can read its log (a reader of a log
    // needs its shared-memory index, which it makes beside it).
    return vacuumedInto(copy, own, constants.SQLITE_OPEN_READWRITE);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
}

interface Moment {
  readonly databaseChangedNs: bigint;
  readonly databaseSize: bigint;
  /** The log header's salts (zeros when it has none, or no header yet). */
  readonly salts: Uint8Array;
}

function moment(files: DatabaseFiles): Moment {
  const stat = fstatSync(files.database, { bigint: true });
  const salts = new Uint8Array(8);
  if (files.log !== undefined) readSync(files.log, salts, 0, 8, 16);
  return { databaseChangedNs: stat.ctimeNs, databaseSize: stat.size, salts };
}

function sameMoment(a: Moment, b: Moment): boolean {
  return (
    a.databaseChangedNs === b.databaseChangedNs &&
    a.databaseSize === b.databaseSize &&
    a.salts.every((byte, i) => byte === b.salts[i])
  );
}

/** Whether a file holds far fewer blocks than its size says: mostly holes. */
export function isSparse(stat: { readonly size: number; readonly blocks: number }): boolean {
  return stat.size > 1024 * 1024 && stat.blocks * 512 < stat.size / 2;
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
