/**
 * Reads of the state database that run a statement SQLite keeps compiled (bun:sqlite's
 * `query` caches it by its text on the connection), for the queries `bucky status` and
 * the zone's opening make. Built through drizzle, each of them cost more than SQLite's
 * work: a status read from the home (no node running) spent 14 of its 57 profiled ms in
 * drizzle building the same few queries, cold, once each. The daemon reads them the same
 * way, so both give the same answer.
 */
import { Database } from "bun:sqlite";
import { isKeyGlob } from "../../protocol/state-key.ts";
import type { StateQueries } from "./db.ts";

/** What these reads take: drizzle's database or a transaction on it, or the bare connection. */
export type StateReader = StateQueries | Database;

/**
 * The SQLite connection under `db`: itself, drizzle's database's, or a transaction's (a
 * transaction runs on the same connection, so what it reads here is in the transaction).
 */
export function sqliteOf(db: StateReader): Database {
  if (db instanceof Database) return db;
  if ("$client" in db) return (db as { $client: Database }).$client;
  // drizzle keeps a transaction's session (and its connection) where it keeps the database's.
  return (db as unknown as { session: { client: Database } }).session.client;
}

/** The value held at `key` (null for a tombstone), or undefined when there is no row. */
export function stateValue(db: StateReader, key: string): string | null | undefined {
  const row = sqliteOf(db)
    .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?")
    .get(key);
  return row === null ? undefined : row.value;
}

/**
 * A state value read as JSON: undefined for no row, a tombstone, or text that is not JSON
 * (a value another member wrote is not trusted to be well formed).
 */
export function parsedValue(text: string | null | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The rows whose key matches the GLOB `pattern` (`*` for any run of characters; keys hold
 * none of GLOB's other special characters), tombstones included. GLOB, not LIKE: LIKE
 * ignores case, and who may write a key goes by its exact spelling (`Nodes/a/engine` is
 * any member's to write, `nodes/a/engine` a's alone). GLOB's constant prefix is also a
 * range the key's index answers, where LIKE read the whole state.
 */
export function stateRowsMatching(
  db: StateReader,
  pattern: string,
): { key: string; value: string | null }[] {
  if (!isKeyGlob(pattern)) throw new Error(`not a state key pattern: ${pattern}`);
  return sqliteOf(db)
    .query<{ key: string; value: string | null }, [string]>(
      "SELECT key, value FROM state WHERE key GLOB ?",
    )
    .all(pattern);
}

/** The live rows (no tombstones) whose key starts with `prefix` (keys are ASCII below DEL). */
export function stateRowsUnder(db: StateReader, prefix: string): { key: string; value: string }[] {
  return sqliteOf(db)
    .query<{ key: string; value: string }, [string, string]>(
      "SELECT key, value FROM state WHERE key >= ? AND key < ? AND value IS NOT NULL",
    )
    .all(prefix, `${prefix}\x7f`);
}
