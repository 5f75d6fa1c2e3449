/**
 * Computing a checkpoint from what this device holds: the state at a frontier, its rows
 * hashed in key order. Either the frontier is this device's own pick for a cut (every
 * author's changesets written at or before the cut, which is a prefix of each feed: a
 * feed's clock only goes forward), or it is another device's, named in its endorsement,
 * which this device checks by computing the same. Nothing is verified by signature here:
 * every changeset held was when it arrived, and the seal keeps them as they were.
 *
 * Of a device proven to have signed two histories, this device's own pick covers only what
 * it signed before the fork: past it, devices hold different changesets of it.
 *
 * The state at the frontier is, key by key: the state row if the frontier covers it (the
 * latest write of all is then the latest of those covered), else the later of the
 * checkpoint held before (its row for that key) and the newly covered writes to it.
 */
import type { Database } from "bun:sqlite";
import { decodeChangeset } from "../../protocol/changeset.ts";
import {
  type Checkpoint,
  type CheckpointRow,
  encodeCheckpoint,
  type FrontierEntry,
  RowsDigest,
  rowsOf,
  rowWins,
} from "../../protocol/checkpoint.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import type { CheckpointRecord } from "../state/checkpoint-record.ts";
import { statesWithBase } from "../state/checkpoint-rows.ts";
import { provenForks } from "../sync/held-proofs.ts";

/** Work between two steps: a few milliseconds each. */
const CHANGESETS_PER_STEP = 500;
const ROWS_PER_STEP = 2000;

/** What to compute a checkpoint at. */
export type Target =
  /** This device's own pick: everything written at or before `cut`. */
  | { readonly cut: number }
  /** Another device's checkpoint, to be checked. */
  | { readonly checkpoint: Checkpoint };

export interface Candidate {
  readonly checkpoint: Checkpoint;
  /** The checkpoint it was computed on top of (its id), if any. */
  readonly after: string | undefined;
  /** Per author, the last seq covered. */
  readonly frontier: ReadonlyMap<string, number>;
  /** The writes it covers that the one before did not, latest per key. */
  readonly writes: ReadonlyMap<string, CheckpointRow>;
  /** How many changesets it covers that the one before did not. */
  readonly newlyCovered: number;
}

/**
 * The steps of computing the checkpoint at `target` on top of `held` (the checkpoint this
 * device holds). The last returns it, or undefined when there is nothing new to cover or
 * this device lacks changesets the target covers (it cannot check that one itself).
 */
export function* candidateSteps(
  sqlite: Database,
  zone: ZoneId,
  held: CheckpointRecord | undefined,
  target: Target,
): Generator<void, Candidate | undefined, void> {
  const before = held?.frontier ?? new Map<string, number>();
  const wanted = "checkpoint" in target ? frontierOf(target.checkpoint) : undefined;
  const cut = "checkpoint" in target ? target.checkpoint.cut : target.cut;
  if (held && cut <= held.checkpoint.cut) return undefined;
  if (wanted) for (const [author, seq] of before) if ((wanted.get(author)?.seq ?? 0) < seq) return;

  // The changesets held past the checkpoint held, author by author: which the new one covers.
  const ends = new Map<string, FrontierEntry>(
    (held?.checkpoint.frontier ?? []).map((entry) => [entry.author, entry]),
  );
  // A device proven to equivocate is covered up to the changeset before its fork at most:
  // past it devices hold different changesets (or none), and would never agree.
  const forks = wanted ? new Map<string, number>() : provenForks(sqlite, zone);
  const writes = new Map<string, CheckpointRow>();
  let newlyCovered = 0;
  let scanned = 0;
  let author: string | undefined;
  let next = 0;
  let open = true;
  for (const row of sqlite
    .query<{ author: string; seq: number; bytes: Uint8Array }, []>(
      "SELECT author, seq, bytes FROM changesets ORDER BY author, seq",
    )
    .iterate()) {
    if (++scanned % CHANGESETS_PER_STEP === 0) yield;
    if (row.author !== author) {
      author = row.author;
      next = (before.get(author) ?? 0) + 1;
      open = true;
    }
    if (row.seq < next || !open) continue;
    const limit = wanted
      ? (wanted.get(author)?.seq ?? 0)
      : (forks.get(author as DeviceId) ?? Number.POSITIVE_INFINITY) - 1;
    if (row.seq > limit) {
      open = false;
      continue;
    }
    // A gap: the feed held does not reach what the target covers.
    if (row.seq !== next) return undefined;
    const changeset = decodeChangeset(new Uint8Array(row.bytes));
    if (!wanted && changeset.hlc.ms > cut) {
      open = false;
      continue;
    }
    next++;
    newlyCovered++;
    ends.set(author, { author: changeset.author, seq: changeset.seq, hash: changeset.hash });
    for (const write of rowsOf(changeset)) {
      const best = writes.get(write[0]);
      if (!best || rowWins(write, best)) writes.set(write[0], write);
    }
  }
  if (wanted) {
    for (const entry of wanted.values()) {
      const end = ends.get(entry.author);
      if (!end || end.seq !== entry.seq || !bytesEqual(end.hash, entry.hash)) return undefined;
    }
  }
  if (newlyCovered === 0) return undefined;

  const frontier = [...ends.values()].sort((a, b) => (a.author < b.author ? -1 : 1));
  const seqs = new Map(frontier.map((entry) => [entry.author as string, entry.seq]));
  const digest = new RowsDigest();
  for (const row of checkpointPass(sqlite, before, seqs, writes)) {
    digest.add(row);
    if (digest.keys % ROWS_PER_STEP === 0) yield;
  }
  const checkpoint = encodeCheckpoint({
    zone,
    cut,
    frontier: frontier.map((entry) => ({ ...entry, author: entry.author as DeviceId })),
    keys: digest.keys,
    digest: digest.finish(),
  });
  if (wanted && checkpoint.id !== (target as { checkpoint: Checkpoint }).checkpoint.id)
    return undefined;
  return { checkpoint, after: held?.checkpoint.id, frontier: seqs, writes, newlyCovered };
}

/**
 * The rows of the state at `frontier`, in key order, from the state as it is now, the
 * checkpoint held before (at `before`) and the writes newly covered. `onRow` hears each
 * state row with the checkpoint's row for its key.
 */
export function* checkpointPass(
  sqlite: Database,
  before: ReadonlyMap<string, number>,
  frontier: ReadonlyMap<string, number>,
  writes: ReadonlyMap<string, CheckpointRow>,
  onRow?: (state: CheckpointRow, checkpoint: CheckpointRow | undefined) => void,
): Generator<CheckpointRow> {
  for (const { state, checkpoint: earlier } of statesWithBase(sqlite, before)) {
    let row: CheckpointRow | undefined;
    if (state[5] <= (frontier.get(state[4]) ?? 0)) row = state;
    else {
      const write = writes.get(state[0]);
      row = write && (!earlier || rowWins(write, earlier)) ? write : earlier;
    }
    onRow?.(state, row);
    if (row) yield row;
  }
}

function frontierOf(checkpoint: Checkpoint): Map<string, FrontierEntry> {
  return new Map(checkpoint.frontier.map((entry) => [entry.author, entry]));
}
