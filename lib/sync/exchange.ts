/**
 * The two sides of an exchange: what this node holds (its version vector), and the
 * entries a peer lacks given its vector, in the order this node applied them, a page at
 * a time, with this node's vector attached.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import {
  type EntriesMessage,
  PAGE_BYTES,
  type VersionVector,
} from "../../protocol/sync-messages.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import type { StateDb } from "../store/db.ts";
import { proofsVector } from "./equivocation.ts";

export function versionVector(db: StateDb): VersionVector {
  const rows = db.$client
    .query<{ author: string; seq: number }, []>(
      "SELECT author, max(seq) AS seq FROM changesets GROUP BY author",
    )
    .all();
  return new Map(rows.map((row) => [row.author as DeviceId, row.seq]));
}

/** Whether `theirs` lacks anything `ours` holds. */
export function lacksAny(theirs: VersionVector, ours: VersionVector): boolean {
  for (const [device, seq] of ours) if ((theirs.get(device) ?? 0) < seq) return true;
  return false;
}

/**
 * The entries `theirs` lacks, a page of them, after those that check their forks
 * (forkChecks). Of an author whose changesets the checkpoint
 * held lets go of, a device that lacks some of those gets none: they would not chain to
 * what it holds (it fetches the checkpoint first: lib/checkpoint/transfer.ts). Of an
 * author proven to equivocate, none from the seq it signed twice on: every device that
 * holds the proof refuses them, and the proof goes with the same exchange.
 */
export function entriesMissingFrom(
  db: StateDb,
  theirs: VersionVector,
  pageBytes = PAGE_BYTES,
): EntriesMessage {
  const have = versionVector(db);
  const record = peekCheckpointRecord(db.$client);
  const behind = new Set(
    (record?.checkpoint.frontier ?? [])
      .filter((entry) => (theirs.get(entry.author) ?? 0) < entry.seq)
      .map((entry) => entry.author as string),
  );
  // Where the first changeset they lack lies in the order this node applied them: the
  // scan starts there, not at the beginning of a history that may be long.
  const firstLacked = db.$client.prepare<{ local_order: number }, [string, number, number]>(
    "SELECT local_order FROM changesets WHERE author = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq LIMIT 1",
  );
  const proven = proofsVector(db);
  const sentBelow = (author: string) => proven.get(author as DeviceId) ?? Number.MAX_SAFE_INTEGER;
  let start = Number.POSITIVE_INFINITY;
  for (const [author, seq] of have) {
    if (behind.has(author) || (theirs.get(author) ?? 0) >= seq) continue;
    const first = firstLacked.get(author, theirs.get(author) ?? 0, sentBelow(author))?.local_order;
    if (first !== undefined && first < start) start = first;
  }
  if (start === Number.POSITIVE_INFINITY) return { have, entries: [], more: false };
  // The fork checks come first, outside the page's bytes: they have a bound of their own.
  const entries = forkChecks(
    db,
    theirs,
    have,
    (author) => behind.has(author) || proven.has(author as DeviceId),
  );
  let size = 0;
  const rows = db.$client
    .query<{ author: string; seq: number; bytes: Uint8Array }, [number]>(
      "SELECT author, seq, bytes FROM changesets WHERE local_order >= ?1 ORDER BY local_order",
    )
    .iterate(start);
  for (const row of rows) {
    if (behind.has(row.author) || row.seq <= (theirs.get(row.author as DeviceId) ?? 0)) continue;
    if (row.seq >= sentBelow(row.author)) continue;
    // Leaving the loop early finalizes the statement: the rest waits for the next page.
    if (size > 0 && size + row.bytes.length > pageBytes) return { have, entries, more: true };
    entries.push(row.bytes);
    size += row.bytes.length;
  }
  return { have, entries, more: false };
}

/** The most bytes of fork checks a page carries besides its entries (a quarter of a page). */
export const FORK_CHECK_BYTES = PAGE_BYTES / 4;

/**
 * Of each author whose later changesets `theirs` lacks, the changeset at the seq the other
 * device holds last: the one its next chains to. Where it holds that very one, it is a
 * duplicate it passes over; where it holds another, the author signed two histories, and
 * the two make the proof that quarantines it (lib/sync/equivocation.ts). Without it, a
 * device whose head is at or past the fork would only ever see a broken chain. One
 * changeset per author a page sends changesets of, FORK_CHECK_BYTES of them at most (the
 * rest with the next exchange, as the other device's heads move); none of an author
 * `passedOver` (one whose changesets this device let go of, or proven to equivocate
 * already: its proof is passed on as it is).
 */
function forkChecks(
  db: StateDb,
  theirs: VersionVector,
  have: VersionVector,
  passedOver: (author: string) => boolean,
): Uint8Array[] {
  const at = db.$client.prepare<{ bytes: Uint8Array }, [string, number]>(
    "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  const checks: Uint8Array[] = [];
  let size = 0;
  for (const [author, seq] of have) {
    const held = theirs.get(author) ?? 0;
    if (held === 0 || held >= seq || passedOver(author)) continue;
    const row = at.get(author, held);
    if (!row) continue;
    if (size + row.bytes.length > FORK_CHECK_BYTES) break;
    checks.push(new Uint8Array(row.bytes));
    size += row.bytes.length;
  }
  return checks;
}
