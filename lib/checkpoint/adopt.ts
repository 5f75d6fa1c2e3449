/**
 * Taking a checkpoint as this device's own, and letting go of what it supersedes.
 *
 * - A checkpoint this device computed itself (and the zone agreed on) changes nothing in
 *   the state: its rows are the state's where the frontier covers them, and those later
 *   writes replaced go to `checkpoint_base`. The changesets it covers are then pruned,
 *   but for the evidence (lib/state/evidence.ts) and the last of each author's.
 * - A checkpoint fetched from another device (lib/checkpoint/transfer.ts) becomes the
 *   state, and this device's own changesets past it are applied on top again, last
 *   writer wins, as if they had just arrived.
 *
 * Each is one transaction, checked against the seal like every write.
 */
import type { Database } from "bun:sqlite";
import { type DecodedChangeset, decodeChangeset } from "../../protocol/changeset.ts";
import {
  type Checkpoint,
  type CheckpointRow,
  frontierSeqs,
  RowsDigest,
} from "../../protocol/checkpoint.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { type EquivocationProof, makeProof } from "../../protocol/equivocation.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { MAX_CLOCK_AHEAD_MS, observeHlc } from "../../protocol/hlc.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import type { Log } from "../log.ts";
import { applyChangeset } from "../state/apply.ts";
import { isAgentRevocation, isEvidence } from "../state/evidence.ts";
import { CHANGESET_COLUMNS, type SealTally, STATE_COLUMNS, type StateSeal } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import { dropPastCut } from "../sync/cut.ts";
import { keepProof } from "../sync/equivocation.ts";
import { provenForks } from "../sync/held-proofs.ts";
import { membershipFromRows } from "../sync/membership.ts";
import { type Candidate, checkpointPass } from "./candidate.ts";

const INSERT_BASE =
  "INSERT INTO checkpoint_base (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/**
 * Changesets pruned per transaction: another process's write (a command) gets the lock in
 * between. The batches run back to back, so the daemon's own work waits for all of them.
 */
const PRUNE_BATCH = 5000;

/**
 * Adopts a checkpoint this device computed, if nothing moved under it meanwhile (another
 * adopted first, or changesets it covers were dropped): its rows are computed once more,
 * in the transaction, from the state as it is now, and must give the same digest.
 * Returns whether it was adopted.
 */
export function adoptComputed(
  db: StateDb,
  seal: StateSeal,
  candidate: Candidate,
  endorsements: readonly Uint8Array[],
  nowMs: number,
): boolean {
  const sqlite = db.$client;
  return sqlite
    .transaction((): boolean => {
      const tally = seal.tally(sqlite);
      if (tally.checkpoint()?.checkpoint.id !== candidate.after) return false;
      const before = tally.frontier();
      if (coveredBetween(sqlite, before, candidate.frontier) !== candidate.newlyCovered)
        return false;
      const base: CheckpointRow[] = [];
      const digest = new RowsDigest();
      for (const row of checkpointPass(
        sqlite,
        before,
        candidate.frontier,
        candidate.writes,
        (state, row) => {
          if (row && row !== state) base.push(row);
        },
      ))
        digest.add(row);
      const { checkpoint } = candidate;
      if (digest.keys !== checkpoint.keys || !bytesEqual(digest.finish(), checkpoint.digest))
        return false;
      replaceBase(sqlite, tally, base, () =>
        tally.adoptCheckpoint({ checkpoint, endorsements, adoptedAt: nowMs }),
      );
      tally.save();
      return true;
    })
    .immediate();
}

/** What a checkpoint fetched from another device brings, staged and checked. */
export interface Fetched {
  readonly checkpoint: Checkpoint;
  readonly endorsements: readonly Uint8Array[];
  /** Its rows, staged in this temporary table (key order, digest checked). */
  readonly rowsTable: string;
  /** The changesets it keeps (evidence and each author's last), signatures checked. */
  readonly kept: readonly DecodedChangeset[];
}

/**
 * Makes a fetched checkpoint this device's state: its rows, then this device's changesets
 * past its frontier applied on top, last writer wins; the changesets it keeps are stored;
 * a revoked device's changesets past its cut (and past the checkpoint) dropped, with those
 * of the devices that history admitted (lib/sync/cut.ts). Returns false, changing
 * nothing, when this device already holds it or a newer one.
 */
export function adoptFetched(
  db: StateDb,
  seal: StateSeal,
  zone: ZoneId,
  fetched: Fetched,
  nowMs: number,
  log: Log,
): boolean {
  const sqlite = db.$client;
  return sqlite
    .transaction((): boolean => {
      const tally = seal.tally(sqlite);
      const held = tally.checkpoint();
      const { checkpoint } = fetched;
      const frontier = frontierSeqs(checkpoint);
      if (held && held.checkpoint.id !== checkpoint.id) {
        // Only a newer one that covers at least all the one held covers.
        if (held.checkpoint.cut >= checkpoint.cut) return false;
        for (const entry of held.checkpoint.frontier)
          if ((frontier.get(entry.author) ?? 0) < entry.seq) return false;
      }

      // The state becomes the checkpoint's rows.
      replaceBase(sqlite, tally, [], () =>
        tally.adoptCheckpoint({ checkpoint, endorsements: fetched.endorsements, adoptedAt: nowMs }),
      );
      for (const row of sqlite.query(`SELECT ${STATE_COLUMNS} FROM state`).values())
        tally.removeStateRow(row);
      sqlite.run("DELETE FROM state");
      let latest: { ms: number; counter: number } = { ms: 0, counter: 0 };
      for (const row of sqlite
        .query(`SELECT ${STATE_COLUMNS} FROM ${fetched.rowsTable} ORDER BY key`)
        .values()) {
        tally.addStateRow(row);
        const [ms, counter] = [row[2] as number, row[3] as number];
        if (ms > latest.ms || (ms === latest.ms && counter > latest.counter))
          latest = { ms, counter };
      }
      sqlite.run(`INSERT INTO state SELECT ${STATE_COLUMNS} FROM ${fetched.rowsTable}`);

      // The changesets it keeps, where this device lacks them.
      const held2 = sqlite.prepare<{ hash: Uint8Array }, [string, number]>(
        "SELECT hash FROM changesets WHERE author = ?1 AND seq = ?2",
      );
      const insert = sqlite.prepare(
        "INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
      );
      const forks = provenForks(db, zone);
      for (const parted of partedHistories(sqlite, fetched, forks, seal.device)) {
        const dropped = setAsideParted(sqlite, tally, parted);
        // Where the two part at one changeset after the same one, that is a proof of the
        // fork, which goes to every device (lib/sync/equivocation.ts): the device is caught.
        const proven = provenAt(
          dropped.find((changeset) => changeset.seq === parted.seq),
          parted.theirs,
        );
        if (proven) keepProof(db, proven, nowMs);
        log.error(
          "a device's history held here parted from the one the zone's checkpoint settled: set aside",
          {
            device: parted.author,
            fromSeq: parted.seq,
            count: dropped.length,
            settledThroughSeq: frontier.get(parted.author),
            proven: proven !== undefined,
          },
        );
      }
      for (const changeset of fetched.kept) {
        const mine = held2.get(changeset.author, changeset.seq);
        if (mine) {
          // Of a device proven to equivocate, from its fork on, devices hold different
          // changesets of one seq: the one held here stays (none of those is taken).
          if (changeset.seq >= (forks.get(changeset.author) ?? Number.POSITIVE_INFINITY)) continue;
          if (!bytesEqual(new Uint8Array(mine.hash), changeset.hash))
            throw new ProtocolError(
              `the checkpoint keeps a changeset ${changeset.author}#${changeset.seq} other than the one held here`,
            );
          continue;
        }
        const { lastInsertRowid } = insert.run(
          changeset.author,
          changeset.seq,
          changeset.hash,
          changeset.bytes,
          nowMs,
        );
        tally.addChangesetRow([
          Number(lastInsertRowid),
          changeset.author,
          changeset.seq,
          changeset.hash,
          changeset.bytes,
          nowMs,
        ]);
      }

      // Every evidence row is backed by the changeset held that wrote it, whatever was set
      // aside above: a kept changeset the peer swapped for another of the same seq (signed
      // with a stolen key) would leave rows nothing held backs, and every check fail.
      requireEvidenceHeld(sqlite);

      // This device's changesets past the frontier, applied on top, in the order it took them.
      for (const row of sqlite
        .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM changesets ORDER BY local_order")
        .iterate()) {
        const changeset = decodeChangeset(new Uint8Array(row.bytes));
        if (changeset.seq <= (frontier.get(changeset.author) ?? 0)) continue;
        applyChangeset(sqlite, tally, changeset);
      }

      // A revocation the state now holds drops what the device wrote past its cut (a
      // quarantine drops nothing). What that sets aside may have admitted devices: they go
      // with it (lib/sync/cut.ts).
      const membership = () =>
        membershipFromRows(
          sqlite
            .query<{ key: string; value: string | null }, []>(
              "SELECT key, value FROM state WHERE key GLOB 'devices/*'",
            )
            .all(),
          zone,
          provenForks(db, zone),
          frontier,
        );
      let members = membership();
      for (const id of [...members.byId.keys()]) {
        // A device an earlier cut here took out of the zone has nothing left to drop.
        const member = members.byId.get(id);
        if (member?.revokedAfterSeq === undefined) continue;
        if (dropPastCut(db, tally, member, { log, membership }).length > 0) members = membership();
      }

      // This device's clock is not behind anything it now holds.
      const self = sqlite
        .query<{ hlc_ms: number; hlc_counter: number }, []>("SELECT hlc_ms, hlc_counter FROM node")
        .get();
      const clock = observeHlc(
        self ? { ms: self.hlc_ms, counter: self.hlc_counter } : undefined,
        latest,
        nowMs,
        MAX_CLOCK_AHEAD_MS,
      );
      if (clock)
        sqlite.query("UPDATE node SET hlc_ms = ?1, hlc_counter = ?2").run(clock.ms, clock.counter);
      tally.save();
      return true;
    })
    .immediate();
}

/** An author whose history held here parts from a checkpoint's, from `seq` on. */
interface Parted {
  readonly author: string;
  readonly seq: number;
  /** The checkpoint's changeset at `seq`, if it keeps one. */
  readonly theirs: DecodedChangeset | undefined;
  /** The checkpoint's changeset of the author at its frontier (the last it settled). */
  readonly settled: DecodedChangeset;
}

/**
 * The authors whose history held here is not the one a fetched checkpoint settled, each
 * from the lowest seq where that shows in what the endorsements sign (the zone's word,
 * settled history):
 * - at the seq its frontier names, this device holds a changeset other than the one whose
 *   hash the frontier names (not of a device proven to fork, from its fork on: devices
 *   hold different changesets there, and the one held stays);
 * - an evidence row of its rows (lib/state/evidence.ts) was written by (author, seq), and
 *   the changeset held here of that seq does not write it. An honest changeset always
 *   backs its own rows, so this sets aside only a history the zone did not settle; and it
 *   holds from a proven fork on too (the checkpoint settled which side wrote the row).
 *   A device given a second history shorter than the frontier meets this alone.
 * A device that was cut off while a stolen one gave it a history of its own meets that
 * once the others have agreed past it: refusing the checkpoint would leave it never
 * syncing again, as its peers pruned what came before. Never decided on any other
 * changeset the checkpoint keeps: those the peer offering it chooses, and one holding an
 * author's key could swap one for another it signs (the zone's founding changeset, set
 * aside here, for good). Never of this device itself (its own feed is what it signs next
 * from).
 */
function partedHistories(
  sqlite: Database,
  fetched: Fetched,
  forks: ReadonlyMap<string, number>,
  self: string,
): Parted[] {
  const held = sqlite.prepare<{ hash: Uint8Array; bytes: Uint8Array }, [string, number]>(
    "SELECT hash, bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  const partsAt = new Map<string, number>();
  const partAt = (author: string, seq: number) => {
    if (seq < (partsAt.get(author) ?? Number.POSITIVE_INFINITY)) partsAt.set(author, seq);
  };
  for (const { author, seq, hash } of fetched.checkpoint.frontier) {
    if (author === self || seq >= (forks.get(author) ?? Number.POSITIVE_INFINITY)) continue;
    const mine = held.get(author, seq);
    if (mine && !bytesEqual(new Uint8Array(mine.hash), hash)) partAt(author, seq);
  }
  const decoded = new Map<string, DecodedChangeset | null>();
  for (const row of sqlite
    .query<{ key: string; value: string | null; author: string; seq: number }, []>(
      `SELECT key, value, author, seq FROM ${fetched.rowsTable}
       WHERE key = 'boot/config' OR key GLOB 'devices/*' OR key GLOB 'revoked-agents/*'`,
    )
    .iterate()) {
    if (row.author === self || !isEvidence(row.key)) continue;
    const id = `${row.author}#${row.seq}`;
    if (!decoded.has(id)) {
      const mine = held.get(row.author, row.seq);
      decoded.set(id, mine ? decodeChangeset(new Uint8Array(mine.bytes)) : null);
    }
    const mine = decoded.get(id);
    if (!mine) continue;
    const op = mine.ops.findLast((candidate) => candidate.key === row.key);
    if (!op || op.value !== row.value) partAt(row.author, row.seq);
  }
  const parted: Parted[] = [];
  for (const [author, seq] of partsAt) {
    const entry = fetched.checkpoint.frontier.find((e) => e.author === author);
    const settled =
      entry &&
      fetched.kept.find(
        (k) => k.author === author && k.seq === entry.seq && bytesEqual(k.hash, entry.hash),
      );
    if (!settled) continue;
    const theirs = fetched.kept.find((k) => k.author === author && k.seq === seq);
    parted.push({ author, seq, theirs, settled });
  }
  return parted;
}

/**
 * Throws unless every evidence row of the state (lib/state/evidence.ts) is what the
 * changeset held of its author and seq wrote: the same check the daily verification makes.
 */
function requireEvidenceHeld(sqlite: Database): void {
  const heldChangeset = sqlite.prepare<{ bytes: Uint8Array }, [string, number]>(
    "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  const decoded = new Map<string, DecodedChangeset | undefined>();
  for (const row of sqlite
    .query<{ key: string; value: string | null; author: string; seq: number }, []>(
      `SELECT key, value, author, seq FROM state
       WHERE key = 'boot/config' OR key GLOB 'devices/*' OR key GLOB 'revoked-agents/*'`,
    )
    .iterate()) {
    if (!isEvidence(row.key)) continue;
    const id = `${row.author}#${row.seq}`;
    if (!decoded.has(id)) {
      const held = heldChangeset.get(row.author, row.seq);
      decoded.set(id, held ? decodeChangeset(new Uint8Array(held.bytes)) : undefined);
    }
    const op = decoded.get(id)?.ops.findLast((candidate) => candidate.key === row.key);
    if (!op || op.value !== row.value)
      throw new ProtocolError(
        `the checkpoint's ${row.key} is not backed by the changeset held that wrote it (${id})`,
      );
  }
}

/**
 * Drops `parted`'s author's changesets held here that the checkpoint settled otherwise:
 * those it covers (its rows are the state now) and those past it that chain onto them
 * rather than onto the checkpoint's last. Returns them.
 */
function setAsideParted(sqlite: Database, tally: SealTally, parted: Parted): DecodedChangeset[] {
  const { author, settled } = parted;
  const remove = sqlite.prepare<unknown[], [string, number]>(
    `DELETE FROM changesets WHERE author = ?1 AND seq = ?2 RETURNING ${CHANGESET_COLUMNS}`,
  );
  const drop = (seq: number): DecodedChangeset | undefined => {
    const row = remove.values(author, seq)[0];
    if (!row) return undefined;
    tally.removeChangesetRow(row as Parameters<SealTally["removeChangesetRow"]>[0]);
    return decodeChangeset(new Uint8Array(row[4] as Uint8Array));
  };
  const dropped: DecodedChangeset[] = [];
  let last: DecodedChangeset | undefined;
  for (const { seq } of sqlite
    .query<{ seq: number }, [string, number]>(
      "SELECT seq FROM changesets WHERE author = ?1 AND seq <= ?2 ORDER BY seq",
    )
    .all(author, settled.seq)) {
    last = drop(seq);
    if (last) dropped.push(last);
  }
  // Past it, what chains onto the history set aside (not onto the checkpoint's last).
  let prev = last?.seq === settled.seq ? last.hash : undefined;
  const next = sqlite.prepare<{ bytes: Uint8Array }, [string, number]>(
    "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
  );
  for (let seq = settled.seq + 1; ; seq++) {
    const row = next.get(author, seq);
    if (!row) break;
    const changeset = decodeChangeset(new Uint8Array(row.bytes));
    const onSettled = changeset.prev !== null && bytesEqual(changeset.prev, settled.hash);
    const onParted =
      prev !== undefined && changeset.prev !== null && bytesEqual(changeset.prev, prev);
    if (seq === settled.seq + 1 ? onSettled : !onParted) break;
    drop(seq);
    dropped.push(changeset);
    prev = changeset.hash;
  }
  return dropped;
}

/** The proof of equivocation two changesets of one seq make, if they part after the same one. */
function provenAt(
  mine: DecodedChangeset | undefined,
  theirs: DecodedChangeset | undefined,
): EquivocationProof | undefined {
  if (!mine || !theirs) return undefined;
  try {
    return makeProof(mine.bytes, theirs.bytes);
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
}

/**
 * Prunes the changesets the checkpoint held covers, but for the evidence and the last of
 * each author's (what the next one chains to): a batch per transaction, so a first
 * compaction of years of history does not hold the write lock for its whole length (the
 * daemon's own event loop still waits for it). Safe to stop at any point and run again.
 * Returns how many it pruned.
 */
export function pruneCovered(db: StateDb, seal: StateSeal, batch = PRUNE_BATCH): number {
  const sqlite = db.$client;
  let pruned = 0;
  let after = 0;
  for (;;) {
    const done = sqlite
      .transaction((): boolean => {
        const tally = seal.tally(sqlite);
        const frontier = tally.frontier();
        if (frontier.size === 0) return true;
        const rows = sqlite
          .query<unknown[], [number, string, number]>(
            `SELECT ${CHANGESET_COLUMNS} FROM changesets
             WHERE local_order > ?1
               AND seq <= coalesce((SELECT value FROM json_each(?2) WHERE key = changesets.author), 0)
             ORDER BY local_order LIMIT ?3`,
          )
          .values(after, JSON.stringify(Object.fromEntries(frontier)), batch);
        if (rows.length === 0) return true;
        const remove = sqlite.prepare("DELETE FROM changesets WHERE local_order = ?1");
        const holds = checkpointHolds(sqlite);
        for (const row of rows) {
          after = row[0] as number;
          if (kept(row, frontier, holds)) continue;
          remove.run(after);
          tally.pruneChangesetRow(row as Parameters<SealTally["pruneChangesetRow"]>[0]);
          pruned++;
        }
        tally.save();
        return false;
      })
      .immediate();
    if (done) return pruned;
  }
}

/** Whether the checkpoint's row for a key is the one `author`'s changeset `seq` wrote. */
type CheckpointHolds = (key: string, author: string, seq: number) => boolean;

function checkpointHolds(sqlite: Database): CheckpointHolds {
  // The checkpoint's row: kept aside where a later write replaced it, else the state's.
  const base = sqlite.prepare<{ author: string; seq: number }, [string]>(
    "SELECT author, seq FROM checkpoint_base WHERE key = ?1",
  );
  const state = sqlite.prepare<{ author: string; seq: number }, [string]>(
    "SELECT author, seq FROM state WHERE key = ?1",
  );
  return (key, author, seq) => {
    const row = base.get(key) ?? state.get(key);
    return row?.author === author && row.seq === seq;
  };
}

/**
 * Whether a covered changeset row stays: the frontier's, evidence, or one that does not
 * decode (damage, for the checks to name).
 */
function kept(
  row: unknown[],
  frontier: ReadonlyMap<string, number>,
  holds: CheckpointHolds,
): boolean {
  const [author, seq] = [row[1] as string, row[2] as number];
  if (seq === frontier.get(author)) return true;
  try {
    return decodeChangeset(new Uint8Array(row[4] as Uint8Array)).ops.some(
      (op) => isEvidence(op.key) && (!isAgentRevocation(op.key) || holds(op.key, author, seq)),
    );
  } catch (error) {
    if (error instanceof ProtocolError) return true;
    throw error;
  }
}

/** How many changesets held are covered by `frontier` and not by `before`. */
function coveredBetween(
  sqlite: Database,
  before: ReadonlyMap<string, number>,
  frontier: ReadonlyMap<string, number>,
): number {
  const row = sqlite
    .query<{ n: number }, [string, string]>(
      `SELECT count(*) AS n FROM changesets
       WHERE seq > coalesce((SELECT value FROM json_each(?1) WHERE key = changesets.author), 0)
         AND seq <= coalesce((SELECT value FROM json_each(?2) WHERE key = changesets.author), 0)`,
    )
    .get(JSON.stringify(Object.fromEntries(before)), JSON.stringify(Object.fromEntries(frontier)));
  return row?.n ?? 0;
}

/** Empties checkpoint_base, switches checkpoint (`adopt`), then fills it with `rows`. */
function replaceBase(
  sqlite: Database,
  tally: SealTally,
  rows: readonly CheckpointRow[],
  adopt: () => void,
): void {
  for (const row of sqlite.query(`SELECT ${STATE_COLUMNS} FROM checkpoint_base`).values())
    tally.removeBaseRow(row);
  sqlite.run("DELETE FROM checkpoint_base");
  adopt();
  const insert = sqlite.prepare(INSERT_BASE);
  for (const row of rows) {
    insert.run(...row);
    tally.addBaseRow(row);
  }
}
