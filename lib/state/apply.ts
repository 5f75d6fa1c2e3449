/**
 * Applies a verified changeset's ops to the materialized state: last writer wins per
 * key, ordered by hybrid logical clock and then author id. Applying the same changeset
 * twice, or changesets in any order, gives the same state. Every row added to or removed
 * from `state` and `changesets` is counted in the transaction's seal tally.
 */

import type { Database, Statement } from "bun:sqlite";
import {
  type Changeset,
  type DecodedChangeset,
  decodeChangeset,
  verifyChangeset,
} from "../../protocol/changeset.ts";
import { type CheckpointRow, rowsOf, rowWins } from "../../protocol/checkpoint.ts";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { publicKeyOfId } from "../../protocol/ids.ts";
import { isRevocationKey, revocationPrecedence } from "../../protocol/revocation-order.ts";
import type { ColumnValue } from "../../protocol/state-seal.ts";
import type { StateDb } from "../store/db.ts";
import { checkpointRows } from "./checkpoint-rows.ts";
import { CHANGESET_COLUMNS, type SealTally, STATE_COLUMNS, stateAltered } from "./seal.ts";

/**
 * Prepared statements, one set per database. This is the hot path of sync (every op of
 * every changeset), where building each query through drizzle cost thirty times more
 * than SQLite itself. A write inserts its key, or when the key is held already, updates
 * it only if it is the later writer (clock, then author id; between equals the one
 * applied first stays): two steps, so that the seal learns which row a write replaced.
 */
const INSERT_NEW = `
  INSERT INTO state (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
  ON CONFLICT (key) DO NOTHING`;
const UPDATE_IF_LATER = `
  UPDATE state SET value = ?2, hlc_ms = ?3, hlc_counter = ?4, author = ?5, seq = ?6
  WHERE key = ?1 AND (?3, ?4, ?5) > (hlc_ms, hlc_counter, author)`;
const UPDATE = `
  UPDATE state SET value = ?2, hlc_ms = ?3, hlc_counter = ?4, author = ?5, seq = ?6 WHERE key = ?1`;
const SELECT_ROW = `SELECT ${STATE_COLUMNS} FROM state WHERE key = ?1`;
const INSERT_CHANGESET =
  "INSERT INTO changesets (author, seq, hash, bytes, received_at) VALUES (?1, ?2, ?3, ?4, ?5)";
const INSERT_BASE = `
  INSERT INTO checkpoint_base (key, value, hlc_ms, hlc_counter, author, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
  ON CONFLICT (key) DO NOTHING`;
const SELECT_BASE = `SELECT ${STATE_COLUMNS} FROM checkpoint_base WHERE key = ?1`;

interface Prepared {
  readonly insertNew: Statement;
  readonly updateIfLater: Statement;
  readonly update: Statement;
  readonly select: Statement<ColumnValue[], [string]>;
  readonly insert: Statement;
  readonly insertBase: Statement;
  readonly selectBase: Statement<ColumnValue[], [string]>;
}
const statements = new WeakMap<Database, Prepared>();

function prepared(sqlite: Database): Prepared {
  let cached = statements.get(sqlite);
  if (!cached) {
    cached = {
      insertNew: sqlite.prepare(INSERT_NEW),
      updateIfLater: sqlite.prepare(UPDATE_IF_LATER),
      update: sqlite.prepare(UPDATE),
      select: sqlite.prepare<ColumnValue[], [string]>(SELECT_ROW),
      insert: sqlite.prepare(INSERT_CHANGESET),
      insertBase: sqlite.prepare(INSERT_BASE),
      selectBase: sqlite.prepare<ColumnValue[], [string]>(SELECT_BASE),
    };
    statements.set(sqlite, cached);
  }
  return cached;
}

/**
 * Stores a verified changeset and applies its ops. Call it inside a transaction: the
 * entry and its effect on the state are one durable step.
 */
export function storeChangeset(
  db: StateDb,
  tally: SealTally,
  changeset: Changeset,
  receivedAtMs: number,
): void {
  insertChangeset(db, tally, changeset, receivedAtMs);
  applyChangeset(db.$client, tally, changeset);
}

/**
 * Stores a verified changeset without applying its ops: the caller gives them to a
 * PendingWrites, in the same transaction.
 */
export function insertChangeset(
  db: StateDb,
  tally: SealTally,
  changeset: Changeset,
  receivedAtMs: number,
): void {
  const { insert } = prepared(db.$client);
  const { lastInsertRowid } = insert.run(
    changeset.author,
    changeset.seq,
    changeset.hash,
    changeset.bytes,
    receivedAtMs,
  );
  tally.addChangesetRow([
    Number(lastInsertRowid),
    changeset.author,
    changeset.seq,
    changeset.hash,
    changeset.bytes,
    receivedAtMs,
  ]);
}

/**
 * The ops of changesets stored in one transaction, not yet written to the state: of the
 * ops on each key, only the one that would win. Last writer wins per key whatever the
 * order, so writing that one alone leaves the state (and its seal) as writing them all in
 * turn would, and a batch that writes a key ten times writes it once. Flush before
 * anything reads the state (membership, after a change to devices/) and before commit.
 */
export class PendingWrites {
  private readonly latest = new Map<string, CheckpointRow>();

  add(changeset: Changeset): void {
    for (const row of rowsOf(changeset)) {
      const held = this.latest.get(row[0]);
      // As the state's own rule: only a later writer replaces (between equals, the first stays).
      if (!held || rowWins(row, held)) this.latest.set(row[0], row);
    }
  }

  /**
   * Writes the winners in the order of their keys: the state's B-tree then takes them
   * page after page, where in the order they came (keys from many apps, ids, hashes) each
   * write would land on a page of its own. Which order is only a matter of speed: each
   * key is written once, and the seal's digest is the same in any order.
   */
  flush(sqlite: Database, tally: SealTally): void {
    const { latest } = this;
    if (latest.size > 1) {
      // The default sort: by code units (compareCodeUnits), natively, where a comparator
      // called per pair cost 1 µs a row in a batch of 100,000 against 0.2.
      for (const key of [...latest.keys()].sort())
        applyRow(sqlite, tally, latest.get(key) as CheckpointRow);
    } else {
      for (const row of latest.values()) applyRow(sqlite, tally, row);
    }
    latest.clear();
  }
}

/** Applies the ops of a changeset already stored (or being stored) to the state. */
export function applyChangeset(sqlite: Database, tally: SealTally, changeset: Changeset): void {
  for (const row of rowsOf(changeset)) applyRow(sqlite, tally, row);
}

function applyRow(sqlite: Database, tally: SealTally, row: CheckpointRow): void {
  const replaced = writeRow(sqlite, row);
  if (replaced === false) return;
  if (replaced) {
    tally.removeStateRow(replaced);
    keepCheckpointRow(sqlite, tally, replaced);
  }
  tally.addStateRow(row);
}

/**
 * A state row the checkpoint held covers is the checkpoint's own row for its key: before
 * a later write replaces it, it is kept in `checkpoint_base` (once), so the checkpoint's
 * whole state can still be served and fallen back to.
 */
function keepCheckpointRow(sqlite: Database, tally: SealTally, row: ColumnValue[]): void {
  if (!tally.covered(row[4] as string, row[5] as number)) return;
  if (prepared(sqlite).insertBase.run(...(row as StateRowValues)).changes > 0)
    tally.addBaseRow(row);
}

type StateRowValues = [string, string | null, number, number, string, number];

/**
 * Writes one op's row, last writer wins: the row it replaced, undefined when the key was
 * not held (most writes in bulk, a join or a backlog: one statement), false when the row
 * held is the later one and stays.
 */
function writeRow(
  sqlite: Database,
  row: readonly [string, string | null, number, number, string, number],
): ColumnValue[] | undefined | false {
  const { insertNew, updateIfLater, update, select } = prepared(sqlite);
  if (insertNew.run(...row).changes > 0) return undefined;
  const before = select.values(row[0])[0];
  if (!before) return undefined;
  // Of a device's revocation, the one keeping less first (protocol/revocation-order.ts).
  if (isRevocationKey(row[0])) {
    const precedence = revocationPrecedence(row[1], before[1] as string | null);
    if (precedence < 0) return false;
    if (precedence > 0) return update.run(...row).changes > 0 ? before : false;
  }
  return updateIfLater.run(...row).changes > 0 ? before : false;
}

/**
 * Recomputes `keys` from the checkpoint held and every changeset held after it, as if
 * those keys had never been written since: used when changesets are dropped (a revoked
 * device's). Slow, and rare. Each changeset whose ops it applies again is verified again
 * first: its bytes have lain on disk.
 */
export function reapplyKeys(
  db: Pick<StateDb, "$client">,
  tally: SealTally,
  keys: ReadonlySet<string>,
): void {
  if (keys.size === 0) return;
  const sqlite = db.$client;
  const { select, selectBase, insertNew } = prepared(sqlite);
  const remove = sqlite.prepare("DELETE FROM state WHERE key = ?1");
  for (const key of keys) {
    const before = select.values(key)[0];
    if (before) {
      keepCheckpointRow(sqlite, tally, before);
      remove.run(key);
      tally.removeStateRow(before);
    }
    // What the checkpoint gives the key is where it starts again.
    const base = selectBase.values(key)[0];
    if (base) {
      insertNew.run(...(base as StateRowValues));
      tally.addStateRow(base);
    }
  }
  const frontier = tally.frontier();
  for (const bytes of heldInOrder(sqlite)) {
    const changeset = storedChangeset(sqlite.filename, bytes);
    if (changeset.seq <= (frontier.get(changeset.author) ?? 0)) continue;
    const ops = changeset.ops.filter((op) => keys.has(op.key));
    if (ops.length === 0) continue;
    verifyStored(sqlite.filename, changeset);
    applyChangeset(sqlite, tally, { ...changeset, ops });
  }
}

/**
 * Drops an author's changesets after `afterSeq` and returns them; the caller recomputes
 * the keys they wrote.
 */
export function dropChangesets(
  db: StateDb,
  tally: SealTally,
  author: string,
  afterSeq: number,
): DecodedChangeset[] {
  const rows = db.$client
    .query<ColumnValue[], [string, number]>(
      `DELETE FROM changesets WHERE author = ?1 AND seq > ?2 RETURNING ${CHANGESET_COLUMNS}`,
    )
    .values(author, afterSeq);
  for (const row of rows) tally.removeChangesetRow(row);
  return rows.map((row) => decodeChangeset(new Uint8Array(row[4] as Uint8Array)));
}

/** The bytes of every changeset held, in the order this node applied them. */
function* heldInOrder(sqlite: Database): Generator<Uint8Array> {
  for (const row of sqlite
    .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM changesets ORDER BY local_order")
    .iterate())
    yield new Uint8Array(row.bytes);
}

/**
 * Rebuilds `state` from the checkpoint held (its rows as the state and checkpoint_base
 * hold them now, which the caller verifies against its digest) and every changeset held
 * after it; the caller seals the result.
 */
export function rebuildState(sqlite: Database, frontier: ReadonlyMap<string, number>): void {
  const base = frontier.size > 0 ? [...checkpointRows(sqlite, frontier)] : [];
  sqlite.run("DELETE FROM state");
  sqlite.run("DELETE FROM checkpoint_base");
  const { insertNew, insertBase } = prepared(sqlite);
  for (const row of base) insertNew.run(...(row as StateRowValues));
  for (const bytes of heldInOrder(sqlite)) {
    const changeset = decodeChangeset(bytes);
    if (changeset.seq <= (frontier.get(changeset.author) ?? 0)) continue;
    for (const row of rowsOf(changeset)) {
      const replaced = writeRow(sqlite, row);
      if (replaced && (replaced[5] as number) <= (frontier.get(replaced[4] as string) ?? 0))
        insertBase.run(...(replaced as StateRowValues));
    }
  }
}

function storedChangeset(path: string, bytes: Uint8Array): DecodedChangeset {
  try {
    return decodeChangeset(new Uint8Array(bytes));
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw stateAltered(path, `a changeset does not decode: ${error.message}`);
  }
}

function verifyStored(path: string, changeset: DecodedChangeset): void {
  try {
    verifyChangeset(
      changeset,
      verifyKeyFromPublicKey(publicKeyOfId(changeset.author, "device") as Uint8Array),
    );
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw stateAltered(path, error.message);
  }
}
