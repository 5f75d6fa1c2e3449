/**
 * Applies a verified changeset's ops to the materialized state: last writer wins per
 * key, ordered by hybrid logical clock and then author id. Applying the same changeset
 * twice, or changesets in any order, gives the same state.
 */
import { asc, eq, sql } from "drizzle-orm";
import { type Changeset, decodeChangeset } from "../../protocol/changeset.ts";
import type { StateQueries } from "../store/db.ts";
import { changesets, state } from "../store/schema.ts";

export function applyChangeset(db: StateQueries, changeset: Changeset): void {
  for (const op of changeset.ops) {
    db.insert(state)
      .values({
        key: op.key,
        value: op.value,
        hlcMs: changeset.hlc.ms,
        hlcCounter: changeset.hlc.counter,
        author: changeset.author,
        seq: changeset.seq,
      })
      .onConflictDoUpdate({
        target: state.key,
        set: {
          value: sql`excluded.value`,
          hlcMs: sql`excluded.hlc_ms`,
          hlcCounter: sql`excluded.hlc_counter`,
          author: sql`excluded.author`,
          seq: sql`excluded.seq`,
        },
        setWhere: sql`(excluded.hlc_ms, excluded.hlc_counter, excluded.author) > (${state.hlcMs}, ${state.hlcCounter}, ${state.author})`,
      })
      .run();
  }
}

/**
 * Recomputes `keys` from every changeset held, as if those keys had never been written:
 * used when changesets are dropped (a revoked device's). Slow, and rare.
 */
export function reapplyKeys(db: StateQueries, keys: ReadonlySet<string>): void {
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
