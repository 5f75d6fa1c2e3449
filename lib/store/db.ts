/**
 * Opens the node's state database: SQLite in WAL mode with synchronous=NORMAL (durable
 * at every checkpoint, and about thirty times faster than FULL), migrated to the schema
 * this binary ships.
 */
import { Database } from "bun:sqlite";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { sqliteError } from "../errors.ts";
import { migrate, userVersion } from "./migrate.ts";
import * as schema from "./schema.ts";

const WAL_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * How a transaction that writes begins: taking the write lock at once. One that read first
 * and wrote later could not wait for another process's write (a command run beside the
 * daemon): SQLite refuses such an upgrade at once, as "database is locked".
 */
export const IMMEDIATE = { behavior: "immediate" } as const;

export type StateDb = BunSQLiteDatabase<typeof schema> & { $client: Database };
/** What queries run against: the database itself or a transaction on it. */
export type StateQueries = BaseSQLiteDatabase<"sync", void, typeof schema>;

export function openStateDb(path: string, options: { create: boolean }): StateDb {
  let sqlite: Database | undefined;
  try {
    sqlite = new Database(path, { create: options.create, readwrite: true, strict: true });
    // A new database gives pages back as compaction frees them (it can be set only before
    // the first table; an older one is switched over by a VACUUM, lib/checkpoint/vacuum.ts).
    if (options.create && userVersion(sqlite) === 0) sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
    sqlite.run("PRAGMA journal_mode = WAL");
    // The write-ahead log is cut back to this once folded in (a compaction grows it for a while).
    sqlite.run(`PRAGMA journal_size_limit = ${WAL_LIMIT_BYTES}`);
    sqlite.run("PRAGMA synchronous = NORMAL");
    sqlite.run("PRAGMA busy_timeout = 5000");
    migrate(sqlite, path);
  } catch (error) {
    sqlite?.close();
    throw sqliteError(error, `the state database ${path}`) ?? error;
  }
  return drizzle({ client: sqlite, schema });
}

/**
 * Closes a database whose file is about to be moved or copied on its own: everything in
 * its write-ahead log is put in the file first, and the log emptied.
 */
export function closeWhole(db: StateDb): void {
  try {
    db.$client.run("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.$client.close();
  }
}
