/**
 * Applies a verified changeset's ops to the materialized state: last writer wins per
 * key, ordered by hybrid logical clock and then author id. Applying the same changeset
 * twice, or changesets in any order, gives the same state.
 */
import { sql } from "drizzle-orm";
import type { Changeset } from "../../protocol/changeset.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";

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
