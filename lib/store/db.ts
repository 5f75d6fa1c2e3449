/**
 * Opens the node's state database: SQLite in WAL mode with synchronous=NORMAL (durable
 * at every checkpoint, and about thirty times faster than FULL), migrated to the schema
 * this binary ships.
 */
import { Database } from "bun:sqlite";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import type { BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";
import { BuckyError, fileSystemError } from "../errors.ts";
import { migrate } from "./migrate.ts";
import * as schema from "./schema.ts";

export type StateDb = BunSQLiteDatabase<typeof schema> & { $client: Database };
/** What queries run against: the database itself or a transaction on it. */
export type StateQueries = BaseSQLiteDatabase<"sync", void, typeof schema>;

export function openStateDb(path: string, options: { create: boolean }): StateDb {
  let sqlite: Database;
  try {
    sqlite = new Database(path, { create: options.create, readwrite: true, strict: true });
    sqlite.run("PRAGMA journal_mode = WAL");
    sqlite.run("PRAGMA synchronous = NORMAL");
    sqlite.run("PRAGMA foreign_keys = ON");
    sqlite.run("PRAGMA busy_timeout = 5000");
    migrate(sqlite, path);
  } catch (error) {
    if (error instanceof BuckyError) throw error;
    throw (
      fileSystemError(error, "open", path) ??
      new BuckyError(
        "E_INTEGRITY",
        `the state database ${path} cannot be read: ${(error as Error).message}`,
        "The file is damaged. Restore it from a backup, or move it away and join the zone again.",
        { cause: error },
      )
    );
  }
  return drizzle({ client: sqlite, schema });
}
