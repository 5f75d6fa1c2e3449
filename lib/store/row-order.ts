/**
 * Rows of the zone state read with their clocks, and the order last-writer-wins gives two
 * of them: by their clocks, and between two of the same clock, by their authors. Records
 * kept beside another (an app's acts beside its spec, each of its limits beside the record
 * of both) are weighed by it.
 */
import { compareHlc } from "../../protocol/hlc.ts";
import { type StateReader, sqliteOf } from "./reads.ts";

/** A state row's clock and author, as the `state` table holds them. */
export interface RowClock {
  readonly hlc_ms: number;
  readonly hlc_counter: number;
  readonly author: string;
}

/** A state row's value (null: deleted), with its clock and author. */
export interface StateRow extends RowClock {
  readonly value: string | null;
}

/** The rows of the keys from `first` up to `last` (ASCII: `prefix\x7f` ends a prefix), by key. */
export function stateRowsBetween(
  db: StateReader,
  first: string,
  last: string,
): Map<string, StateRow> {
  const rows = sqliteOf(db)
    .query<StateRow & { key: string }, [string, string]>(
      "SELECT key, value, hlc_ms, hlc_counter, author FROM state WHERE key >= ?1 AND key < ?2",
    )
    .all(first, last);
  return new Map(rows.map((row) => [row.key, row]));
}

/** Whether row `a` was written after row `b`, as last-writer-wins orders them. */
export function writtenAfter(a: RowClock, b: RowClock): boolean {
  const order = compareHlc(
    { ms: a.hlc_ms, counter: a.hlc_counter },
    { ms: b.hlc_ms, counter: b.hlc_counter },
  );
  return order > 0 || (order === 0 && a.author > b.author);
}
