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
  const image = vacuumedInto(
    path,
    scratchDir,
    constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_NOFOLLOW,
  );
  return image === undefined ? undefined : imageBytes(image);
}

/** The bytes of the image `fd` holds (vacuumedInto), read whole; the descriptor closed. */
export function imageBytes(fd: number): Uint8Array {
  try {
    return new Uint8Array(readFileSync(fd));
  } finally {
    closeSync(fd);
  }
}

/**
 * `VACUUM INTO` of the database at `path`, opened with `flags`: a descriptor of the image,
 * for reading, whose file is deleted already (nothing is left behind, whatever becomes of
 * the caller). An app's database of gigabytes is read from it a piece at a time rather
 * than held whole in the daemon's memory.
 */
function vacuumedInto(path: string, scratchDir: string, flags: number): number | undefined {
  let db: Database | undefined;
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const copy = join(scratchDir, `sqlite-image-${randomBytes(8).toString("hex")}.db`);
  try {
    db = new Database(path, flags);
    db.run("PRAGMA busy_timeout = 5000");
    db.query("VACUUM INTO ?1").run(copy);
    return openSync(copy, "r");
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
   * still the one at its name (or none there, as when looked at), no hot rollback journal,
   * no writer's lock for pages it is putting in the file.
   * Asked before the copy and after it.
   */
  readonly quiet: () => boolean;
}

/**
 * How long a database in WAL mode must have been left alone before it is copied: a
 * checkpoint writes pages into its file without its change counter, so only the file's
 * change time tells, and that comes from the kernel's coarse clock, a tick (10 ms at most)
 * at a time: a write in the same tick as the last would leave it as it was, unseen.
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
 * The copy is of one moment when, between a look before it and one after, `files.quiet()`
 * held (no writer part way, the same log), the database's change counter and size stayed
 * (every commit of a journaled database changes the counter), with a log its header's
 * salts stayed (a log started anew changes them; frames appended meanwhile are past what
 * was copied, or torn and so not read), and the file's change time too, the file having
 * been left alone SETTLED_MS before. The change time counts with a log or without: a log
 * its last connection folds into the file and deletes as it closes (a WAL app that opens,
 * commits and closes) writes pages in place without the counter, and such a copy, half
 * before and half after, was taken for one moment. Undefined when it is not, when SQLite
 * cannot read it, or when the database file is mostly holes (costing an app nothing, it
 * would be copied whole). Of the log, only the frames of its present salts are copied.
 */
export function sqliteImageOf(
  files: DatabaseFiles,
  scratchDir: string,
  settledMs = SETTLED_MS,
): number | undefined {
  const before = moment(files);
  if (BigInt(Date.now() - settledMs) * 1_000_000n < before.changedNs) return undefined;
  if (!files.quiet() || isSparse(fstatSync(files.database))) return undefined;
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  // Our own directory (0700): nobody else can put a journal beside the copy for SQLite.
  const own = mkdtempSync(join(scratchDir, "sqlite-copy-"));
  const copy = join(own, "copy.db");
  try {
    copyInto(files.database, copy);
    if (files.log !== undefined) copyLogInto(files.log, `${copy}-wal`);
    if (!files.quiet() || !sameMoment(before, moment(files))) return undefined;
    // Our own copy: opened to write, so that SQLite can read its log (a reader of a log
    // needs its shared-memory index, which it makes beside it).
    return vacuumedInto(copy, own, constants.SQLITE_OPEN_READWRITE);
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
}

interface Moment {
  readonly size: bigint;
  /** The database file's change time (see SETTLED_MS). */
  readonly changedNs: bigint;
  /** The database header's change counter, then the log header's salts (zeros without). */
  readonly counters: Uint8Array;
}

function moment(files: DatabaseFiles): Moment {
  const stat = fstatSync(files.database, { bigint: true });
  const counters = new Uint8Array(12);
  readSync(files.database, counters, 0, 4, 24);
  if (files.log !== undefined) readSync(files.log, counters, 4, 8, 16);
  return {
    size: stat.size,
    changedNs: stat.ctimeNs,
    counters,
  };
}

function sameMoment(a: Moment, b: Moment): boolean {
  return (
    a.size === b.size &&
    a.changedNs === b.changedNs &&
    a.counters.every((byte, i) => byte === b.counters[i])
  );
}

/**
 * Whether a file holds far fewer blocks than its size says: mostly holes. Loose, since a
 * compressing file system also holds fewer blocks than the bytes it is given.
 */
export function isSparse(stat: { readonly size: number; readonly blocks: number }): boolean {
  return stat.size > 64 * 1024 * 1024 && stat.blocks * 512 < stat.size / 8;
}

/** The write-ahead log's header, and each frame's header before its page (sqlite.org/walformat). */
const LOG_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;

/**
 * Copies the log at `fd`: its header and the frames that carry its salts and name a page,
 * up to the first that does not. SQLite reads no further either; what lies past (a frame
 * half written, one of an earlier log, or holes) is not copied. A hole names no page (0),
 * so a log whose header has salts of zeros, as a hole's are, is not copied hole by hole.
 */
function copyLogInto(fd: number, path: string): void {
  const out = openSync(path, "wx", 0o600);
  try {
    const header = new Uint8Array(LOG_HEADER_BYTES);
    if (readSync(fd, header, 0, LOG_HEADER_BYTES, 0) < LOG_HEADER_BYTES) return;
    writeSync(out, header);
    const view = new DataView(header.buffer);
    const raw = view.getUint32(8);
    const pageSize = raw === 1 ? 65_536 : raw;
    if (pageSize < 512 || pageSize > 65_536 || (pageSize & (pageSize - 1)) !== 0) return;
    const frameBytes = FRAME_HEADER_BYTES + pageSize;
    const buffer = new Uint8Array(frameBytes * Math.max(1, Math.floor((1 << 20) / frameBytes)));
    for (let at = LOG_HEADER_BYTES; ; ) {
      const read = readSync(fd, buffer, 0, buffer.length, at);
      let frames = 0;
      while ((frames + 1) * frameBytes <= read) {
        const frame = frames * frameBytes;
        const salted = buffer.subarray(frame + 8, frame + 16);
        const page = new DataView(buffer.buffer, frame, 4).getUint32(0);
        if (page === 0 || !salted.every((byte, i) => byte === header[16 + i])) break;
        frames++;
      }
      if (frames > 0) writeSync(out, buffer, 0, frames * frameBytes);
      if (frames * frameBytes < buffer.length) return;
      at += read;
    }
  } finally {
    closeSync(out);
  }
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
