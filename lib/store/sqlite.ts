/**
 * Opens the node's state database as bun:sqlite's connection: SQLite in WAL mode with
 * synchronous=NORMAL (durable at every checkpoint, and about thirty times faster than
 * FULL), migrated to the schema this binary ships. lib/store/db.ts puts drizzle over it;
 * a command that only reads (`bucky status` with no node running) uses it bare, without
 * loading drizzle (lib/store/reads.ts).
 */
import { Database } from "bun:sqlite";
import { sqliteError } from "../errors.ts";
import { migrate, userVersion } from "./migrate.ts";

const WAL_LIMIT_BYTES = 64 * 1024 * 1024;
/** The state database's sync level (lib/state/feed.ts raises it for a local write alone). */
export const STATE_SYNCHRONOUS = "NORMAL";

export function openStateSqlite(path: string, options: { create: boolean }): Database {
  let sqlite: Database | undefined;
  try {
    sqlite = new Database(path, { create: options.create, readwrite: true, strict: true });
    // First: every statement after, the pragmas too, may meet another process's lock (the
    // last one closing folds the log in and removes it, holding the file alone meanwhile),
    // and without a wait that is SQLITE_BUSY at once, a command failed for nothing.
    sqlite.run("PRAGMA busy_timeout = 5000");
    // A new database gives pages back as compaction frees them (it can be set only before
    // the first table; an older one is switched over by a VACUUM, lib/checkpoint/vacuum.ts).
    if (options.create && userVersion(sqlite) === 0) sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
    sqlite.run("PRAGMA journal_mode = WAL");
    // The write-ahead log is cut back to this once folded in (a compaction grows it for a while).
    sqlite.run(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`);
    sqlite.run(`PRAGMA synchronous = ${STATE_SYNCHRONOUS}`);
    migrate(sqlite, path);
  } catch (error) {
    sqlite?.close();
    throw sqliteError(error, `the state database ${path}`) ?? error;
  }
  return sqlite;
}
