/**
 * The rows of the checkpoint a device holds, read back from where they are kept: a state
 * row the checkpoint covers (its author's seq at or before the frontier) is the
 * checkpoint's own row for that key; where a later write replaced it, `checkpoint_base`
 * keeps it. A key with neither was not in the checkpoint.
 */
import type { Database } from "bun:sqlite";
import type { CheckpointRow } from "../../protocol/checkpoint.ts";

interface Joined {
  key: string;
  value: string | null;
  hlc_ms: number;
  hlc_counter: number;
  author: string;
  seq: number;
  base_key: string | null;
  base_value: string | null;
  base_ms: number | null;
  base_counter: number | null;
  base_author: string | null;
  base_seq: number | null;
}

const JOINED = `
  SELECT s.key, s.value, s.hlc_ms, s.hlc_counter, s.author, s.seq,
         b.key AS base_key, b.value AS base_value, b.hlc_ms AS base_ms,
         b.hlc_counter AS base_counter, b.author AS base_author, b.seq AS base_seq
  FROM state s LEFT JOIN checkpoint_base b ON b.key = s.key`;

/** Every state row with the checkpoint's row for its key beside it (or none), in key order. */
export function* statesWithBase(
  sqlite: Database,
  frontier: ReadonlyMap<string, number>,
  after = "",
): Generator<{ state: CheckpointRow; checkpoint: CheckpointRow | undefined }> {
  for (const row of sqlite
    .query<Joined, [string]>(`${JOINED} WHERE s.key > ?1 ORDER BY s.key`)
    .iterate(after)) {
    const state: CheckpointRow = [
      row.key,
      row.value,
      row.hlc_ms,
      row.hlc_counter,
      row.author,
      row.seq,
    ];
    let checkpoint: CheckpointRow | undefined;
    if (row.base_key !== null)
      checkpoint = [
        row.base_key,
        row.base_value,
        row.base_ms as number,
        row.base_counter as number,
        row.base_author as string,
        row.base_seq as number,
      ];
    else if (row.seq <= (frontier.get(row.author) ?? 0)) checkpoint = state;
    yield { state, checkpoint };
  }
}

/** The checkpoint's rows, in key order, from the first key past `after`. */
export function* checkpointRows(
  sqlite: Database,
  frontier: ReadonlyMap<string, number>,
  after = "",
): Generator<CheckpointRow> {
  for (const { checkpoint } of statesWithBase(sqlite, frontier, after))
    if (checkpoint) yield checkpoint;
}
