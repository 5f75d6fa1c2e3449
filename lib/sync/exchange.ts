/**
 * The two sides of an exchange: what this node holds (its version vector), and the
 * entries a peer lacks given its vector, in the order this node applied them, a page at
 * a time, with this node's vector attached.
 */
import { bytesEqual } from "../../protocol/encoding.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import {
  type EntriesMessage,
  PAGE_BYTES,
  type VersionVector,
} from "../../protocol/sync-messages.ts";
import { peekCheckpointRecord } from "../state/checkpoint-record.ts";
import type { StateDb } from "../store/db.ts";

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
 * What a peer holds, from two things it said of itself: the larger seq of each author (a
 * device's changesets are held from the first on, none skipped).
 */
export function newestOf(said: VersionVector, saidToo: VersionVector): VersionVector {
  const newest = new Map(said);
  for (const [device, seq] of saidToo) if ((newest.get(device) ?? 0) < seq) newest.set(device, seq);
  return newest;
}

/**
 * The entries `theirs` lacks, a page of them. Of an author whose changesets the checkpoint
 * held lets go of, a device that lacks some of those gets none: they would not chain to
 * what it holds (it fetches the checkpoint first: lib/checkpoint/transfer.ts). Of an
 * author the other device holds a proof of (`theirProofs`: its seq by author), none from
 * the proof's seq on: it takes none of those, and would be sent them every round. What a
 * proof held here sets aside is dropped here already (lib/sync/equivocation.ts).
 */
export function entriesMissingFrom(
  db: StateDb,
  theirs: VersionVector,
  pageBytes = PAGE_BYTES,
  theirProofs: VersionVector = new Map(),
): EntriesMessage {
  const have = versionVector(db);
  const record = peekCheckpointRecord(db.$client);
  const behind = new Set(
    (record?.checkpoint.frontier ?? [])
      .filter((entry) => (theirs.get(entry.author) ?? 0) < entry.seq)
      .map((entry) => entry.author as string),
  );
  const sentBelow = (author: string) =>
    theirProofs.get(author as DeviceId) ?? Number.MAX_SAFE_INTEGER;
  // Where the first changeset they lack lies in the order this node applied them: the
  // scan starts there, not at the beginning of a history that may be long.
  const firstLacked = db.$client.prepare<{ local_order: number }, [string, number, number]>(
    "SELECT local_order FROM changesets WHERE author = ?1 AND seq > ?2 AND seq < ?3 ORDER BY seq LIMIT 1",
  );
  let start = Number.POSITIVE_INFINITY;
  for (const [author, seq] of have) {
    if (behind.has(author) || (theirs.get(author) ?? 0) >= seq) continue;
    const first = firstLacked.get(author, theirs.get(author) ?? 0, sentBelow(author))?.local_order;
    if (first !== undefined && first < start) start = first;
  }
  if (start === Number.POSITIVE_INFINITY) return { have, entries: [], more: false };
  const rows = db.$client
    .query<{ author: string; seq: number; bytes: Uint8Array }, [number]>(
      "SELECT author, seq, bytes FROM changesets WHERE local_order >= ?1 ORDER BY local_order",
    )
    .iterate(start);
  const entries: Uint8Array[] = [];
  let size = 0;
  for (const row of rows) {
    if (behind.has(row.author) || row.seq <= (theirs.get(row.author as DeviceId) ?? 0)) continue;
    if (row.seq >= sentBelow(row.author)) continue;
    // Leaving the loop early finalizes the statement: the rest waits for the next page.
    if (entries.length > 0 && size + row.bytes.length > pageBytes)
      return { have, entries, more: true };
    entries.push(row.bytes);
    size += row.bytes.length;
  }
  return { have, entries, more: false };
}

/** The most changesets of one author a device answers when asked for those below a seq. */
export const EARLIER_CHANGESETS = 64;

/**
 * `author`'s changesets held here below `belowSeq`, the highest first, EARLIER_CHANGESETS
 * of them at most and a page's bytes: what a device that found a broken chain asks for,
 * to find where its history and this device's part (lib/sync/fork-search.ts).
 */
export function changesetsBelow(db: StateDb, author: DeviceId, belowSeq: number): Uint8Array[] {
  const rows = db.$client
    .query<{ bytes: Uint8Array }, [string, number, number]>(
      "SELECT bytes FROM changesets WHERE author = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
    )
    .all(author, belowSeq, EARLIER_CHANGESETS);
  const entries: Uint8Array[] = [];
  let size = 0;
  for (const row of rows) {
    if (entries.length > 0 && size + row.bytes.length > PAGE_BYTES) break;
    entries.push(new Uint8Array(row.bytes));
    size += row.bytes.length;
  }
  return entries;
}

/** The hash of the last changeset this device holds of each author: `heads` in a pull request. */
export function headHashes(db: StateDb): Map<DeviceId, Uint8Array> {
  // SQLite takes a bare column of the row where max() is found: the head's hash.
  const rows = db.$client
    .query<{ author: string; seq: number; hash: Uint8Array }, []>(
      "SELECT author, max(seq) AS seq, hash FROM changesets GROUP BY author",
    )
    .all();
  return new Map(rows.map((row) => [row.author as DeviceId, new Uint8Array(row.hash)]));
}

/** The most changesets a pull's answer sends for heads that differ. */
export const MAX_DIFFERING_HEADS = 16;

/**
 * The changesets held here at the seq of an asker's head (`theirs`) that differ from the
 * head it holds (`heads`): each is half of a proof of equivocation (or a broken chain to
 * search), which comparing seqs alone never sends when the two histories are of one
 * length. None of an author withheld from that seq on (its proof held by either side).
 */
export function differingHeads(
  db: StateDb,
  theirs: VersionVector,
  heads: ReadonlyMap<DeviceId, Uint8Array> | undefined,
  withheld: VersionVector = new Map(),
  pageBytes = PAGE_BYTES,
): Uint8Array[] {
  if (!heads) return [];
  const at = db.$client.prepare<{ hash: Uint8Array; bytes: Uint8Array }, [string, number]>(
    "SELECT hash, bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  const found: Uint8Array[] = [];
  let size = 0;
  for (const [author, hash] of heads) {
    const seq = theirs.get(author);
    if (seq === undefined || seq < 1) continue;
    if (seq >= (withheld.get(author) ?? Number.POSITIVE_INFINITY)) continue;
    const held = at.get(author, seq);
    if (!held || bytesEqual(new Uint8Array(held.hash), hash)) continue;
    if (found.length > 0 && size + held.bytes.length > pageBytes) break;
    found.push(new Uint8Array(held.bytes));
    size += held.bytes.length;
    if (found.length >= MAX_DIFFERING_HEADS) break;
  }
  return found;
}

/**
 * A pull's answer of entries: the changesets held at the asker's heads that differ from
 * them (differingHeads) first, then what it lacks (entriesMissingFrom), both within one
 * page's bytes, so that an answer stays as far below a message's limit as a page does.
 * None of an author withheld from its seq on; no differing head of one from its fork
 * known on (`forks`: either side holds that proof already).
 */
export function pullPage(
  db: StateDb,
  theirs: VersionVector,
  heads: ReadonlyMap<DeviceId, Uint8Array> | undefined,
  withheld: VersionVector,
  pageBytes = PAGE_BYTES,
  forks: VersionVector = withheld,
  /** False: the other halves of forks alone, what it lacks going by another way (a push). */
  lacking = true,
): EntriesMessage {
  const known = new Map(withheld);
  for (const [author, seq] of forks)
    known.set(author, Math.min(seq, known.get(author) ?? Number.POSITIVE_INFINITY));
  // Half a page at most (a changeset is at most a quarter of one): what it lacks always
  // has room for its next changeset, and a fork not yet proven holds back nothing else.
  const differing = differingHeads(db, theirs, heads, known, pageBytes / 2);
  if (!lacking) return { have: versionVector(db), entries: differing, more: false };
  const room = pageBytes - differing.reduce((size, entry) => size + entry.length, 0);
  if (room <= 0) return { have: versionVector(db), entries: differing, more: true };
  if (differing.length === 0) return entriesMissingFrom(db, theirs, pageBytes, withheld);
  const missing = entriesMissingFrom(db, theirs, room, withheld);
  // A first entry over the room left waits for the next page, as one over a page would.
  const first = missing.entries[0];
  if (first !== undefined && first.length > room)
    return { have: missing.have, entries: differing, more: true };
  return { ...missing, entries: [...differing, ...missing.entries] };
}
