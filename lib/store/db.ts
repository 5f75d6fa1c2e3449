/**
 * The node's state database as drizzle sees it, over the connection lib/store/sqlite.ts
 * opens (WAL, synchronous=NORMAL, migrated).
 */
import type { Database } from "bun:sqlite";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import * as schema from "./schema.ts";
import { openStateSqlite } from "./sqlite.ts";

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
  return stateDbOver(openStateSqlite(path, options));
}

/** drizzle over a state database's connection (opened by lib/store/sqlite.ts). */
export function stateDbOver(sqlite: Database): StateDb {
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
