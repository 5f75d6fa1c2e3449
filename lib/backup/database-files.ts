/**
 * The files of a SQLite database in a tree someone else writes (an app's data, read as
 * root): the database's own descriptor, checked before (confined-open.ts), and its log,
 * opened inside the tree; and whether they are still quiet, asked before and after they
 * are copied for an image (sqlite-image.ts): no writer part way, by its journal or, with
 * none on disk (journal mode MEMORY or OFF), by the lock it holds (sqlite-locks.ts).
 */
import { closeSync, fstatSync, readSync } from "node:fs";
import { isNoSuchName, lstatIfThere, openInside } from "./confined-open.ts";
import type { DatabaseFiles } from "./sqlite-image.ts";
import { writerWatch } from "./sqlite-locks.ts";

/** The first bytes of a rollback journal that holds a transaction (sqlite.org/fileformat2). */
const JOURNAL_MAGIC = Buffer.from("d9d505f920a163d7", "hex");

/** The files of the database at `path`, open at `database`; `close` lets go of its log. */
export function databaseFiles(
  path: string,
  database: number,
  realRoot: string,
): DatabaseFiles & { close(): void } {
  const log = openOrNone(`${path}-wal`, realRoot);
  const writing = writerWatch(database);
  return {
    database,
    log,
    quiet: () =>
      logIsStill(`${path}-wal`, log) && !isHotJournal(`${path}-journal`, realRoot) && !writing(),
    close: () => {
      if (log !== undefined) closeSync(log);
    },
  };
}

/**
 * Whether `log` is still the log at `path`, or, when there was none, there still is none.
 * A log the last connection deleted has its frames in the database file already: replayed
 * over newer pages, they would undo them.
 */
function logIsStill(path: string, log: number | undefined): boolean {
  const named = lstatIfThere(path);
  if (log === undefined) return named === undefined;
  const held = fstatSync(log, { bigint: true });
  return named !== undefined && held.nlink > 0n && held.ino === named.ino && held.dev === named.dev;
}

/**
 * Whether a rollback journal at `path` holds a transaction: its writer is part way, or was
 * killed part way and SQLite rolls it back at the next open. An empty one (journal mode
 * TRUNCATE) or one whose header was zeroed (PERSIST) is kept between transactions and
 * holds none.
 */
function isHotJournal(path: string, realRoot: string): boolean {
  return startsWith(openOrNone(path, realRoot), JOURNAL_MAGIC);
}

/** Whether the file open at `fd` (if any) starts with `prefix`; closes it. */
export function startsWith(fd: number | undefined, prefix: Uint8Array): boolean {
  if (fd === undefined) return false;
  try {
    const start = Buffer.alloc(prefix.length);
    return readSync(fd, start, 0, start.length, 0) === start.length && start.equals(prefix);
  } finally {
    closeSync(fd);
  }
}

/** A descriptor of the regular file at `path` inside `realRoot`, or undefined when there is none. */
function openOrNone(path: string, realRoot: string): number | undefined {
  try {
    return openInside(path, realRoot);
  } catch (error) {
    if (isNoSuchName(error)) return undefined;
    throw error;
  }
}
