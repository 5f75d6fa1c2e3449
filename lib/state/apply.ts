/**
 * Applies a verified changeset's ops to the materialized state: last writer wins per
 * key, ordered by hybrid logical clock and then author id. Applying the same changeset
 * twice, or changesets in any order, gives the same state.
 */
import type { Database, Statement } from "bun:sqlite";
import { asc, eq } from "drizzle-orm";
import { type Changeset, decodeChangeset } from "../../protocol/changeset.ts";
import type { StateDb } from "../store/db.ts";
import { changesets, state } from "../store/schema.ts";

/**
 * Prepared statements, one set per database. This is the hot path of sync (every op of
 * every changeset), where building each query through drizzle cost thirty times more
 * than SQLite itself.
 */
const UPSERT = `
  INSERT INTO state (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
  ON CONFLICT (key) DO UPDATE SET
    value = excluded.value, hlc_ms = excluded.hlc_ms, hlc_counter = excluded.hlc_counter,
    author = excluded.author, seq = excluded.seq
  WHERE (excluded.hlc_ms, excluded.hlc_counter, excluded.author) > (state.hlc_ms, state.hlc_counter, state.author)`;
const INSERT_CHANGESET =
  "INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?1, ?2, ?3, ?4, ?5)";
const statements = new WeakMap<Database, { upsert: Statement; insert: Statement }>();

function prepared(db: StateDb) {
  let cached = statements.get(db.$client);
  if (!cached) {
    cached = { upsert: db.$client.prepare(UPSERT), insert: db.$client.prepare(INSERT_CHANGESET) };
    statements.set(db.$client, cached);
  }
  return cached;
}

/**
 * Stores a verified changeset and applies its ops. Call it inside a transaction: the
 * entry and its effect on the state are one durable step.
 */
export function storeChangeset(db: StateDb, changeset: Changeset, receivedAtMs: number): void {
  const { insert } = prepared(db);
  insert.run(changeset.author, changeset.seq, changeset.hash, changeset.bytes, receivedAtMs);
  applyChangeset(db, changeset);
}

/** Applies the ops of a changeset already stored (or being stored) to the state. */
export function applyChangeset(db: StateDb, changeset: Changeset): void {
  const { upsert } = prepared(db);
  for (const op of changeset.ops) {
    upsert.run(
      op.key,
      op.value,
      changeset.hlc.ms,
      changeset.hlc.counter,
      changeset.author,
      changeset.seq,
    );
  }
}

/**
 * Recomputes `keys` from every changeset held, as if those keys had never been written:
 * used when changesets are dropped (a revoked device's). Slow, and rare.
 */
export function reapplyKeys(db: StateDb, keys: ReadonlySet<string>): void {
  if (keys.size === 0) return;
  for (const key of keys) db.delete(state).where(eq(state.key, key)).run();
  for (const row of db
    .select({ bytes: changesets.bytes })
    .from(changesets)
    .orderBy(asc(changesets.localOrder))
    .all()) {
    const changeset = decodeChangeset(new Uint8Array(row.bytes));
    const ops = changeset.ops.filter((op) => keys.has(op.key));
    if (ops.length > 0) applyChangeset(db, { ...changeset, ops });
  }
}
