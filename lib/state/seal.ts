/**
 * This device's seal over its zone state (protocol/state-seal.ts): one row beside the
 * tables it covers, kept up to date by every write in the same transaction (a tally of
 * the rows each write adds and removes), so the seal always matches the tables bucky
 * left. Checking them against it (lib/state/integrity.ts) then finds any row written
 * behind bucky's back: without the device key, nothing makes them agree again.
 */
import type { Database } from "bun:sqlite";
import { frontierSeqs } from "../../protocol/checkpoint.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import {
  type ColumnValue,
  DIGEST_BYTES,
  deriveSealKey,
  rowMacInputBound,
  type SealedTable,
  type SealFields,
  sealMac,
  writeRowMacInput,
  xorInto,
} from "../../protocol/state-seal.ts";
import { stateAltered } from "./altered.ts";
import {
  type CheckpointRecord,
  readCheckpointRecord,
  writeCheckpointRecord,
} from "./checkpoint-record.ts";

/** A row of `state`, its columns in table order: key, value, hlc_ms, hlc_counter, author, seq. */
export type StateRow = readonly ColumnValue[];
/** A row of `changesets`: local_order, author, seq, hash, bytes, received_at. */
export type ChangesetRow = readonly ColumnValue[];

export const STATE_COLUMNS = "key, value, hlc_ms, hlc_counter, author, seq";
export const CHANGESET_COLUMNS = "local_order, author, seq, hash, bytes, received_at";

/** A row of `state` as a query of STATE_COLUMNS returns it. */
export interface StateRecord {
  key: string;
  value: string | null;
  hlc_ms: number;
  hlc_counter: number;
  author: string;
  seq: number;
}

/** A row of `changesets` as a query of CHANGESET_COLUMNS returns it. */
export interface ChangesetRecord {
  local_order: number;
  author: string;
  seq: number;
  hash: Uint8Array;
  bytes: Uint8Array;
  received_at: number;
}

export function stateRowOf(row: StateRecord): StateRow {
  return [row.key, row.value, row.hlc_ms, row.hlc_counter, row.author, row.seq];
}

export function changesetRowOf(row: ChangesetRecord): ChangesetRow {
  return [row.local_order, row.author, row.seq, row.hash, row.bytes, row.received_at];
}

/**
 * The digest the seal keeps of a table's rows (each row's mac XORed in) and how many rows
 * there were, read `rowsPerStep` rows a step, so that a long read lets other work run.
 */
export function* rowsDigestSteps<Row>(
  rows: Iterable<Row>,
  mac: (row: Row) => Uint8Array,
  rowsPerStep: number,
): Generator<void, { readonly rows: number; readonly digest: Uint8Array }, void> {
  const digest = new Uint8Array(DIGEST_BYTES);
  let count = 0;
  for (const row of rows) {
    xorInto(digest, mac(row));
    if (++count % rowsPerStep === 0) yield;
  }
  return { rows: count, digest };
}

export class StateSeal {
  private readonly hmac: RowHmac;

  private constructor(
    private readonly key: Uint8Array,
    /** The device this is: its latest changeset is the head of the feed it signs. */
    readonly device: DeviceId,
  ) {
    this.hmac = new RowHmac(key);
  }

  static fromSeed(deviceSeed: Uint8Array, device: DeviceId): StateSeal {
    return new StateSeal(deriveSealKey(deviceSeed), device);
  }

  stateRowMac(row: StateRow): Uint8Array {
    return this.rowMac("state", row);
  }

  changesetRowMac(row: ChangesetRow): Uint8Array {
    return this.rowMac("changesets", row);
  }

  /** A row of `checkpoint_base` (the same columns as a state row). */
  baseRowMac(row: StateRow): Uint8Array {
    return this.rowMac("checkpoint_base", row);
  }

  /** The mac the `checkpoint` row carries over its other columns. */
  checkpointMac(row: readonly ColumnValue[]): Uint8Array {
    return this.rowMac("checkpoint", row);
  }

  /** The mac an invitation row carries: id, secret_hash, created_at, expires_at, uses_left, revoked_at. */
  inviteMac(row: readonly ColumnValue[]): Uint8Array {
    return this.rowMac("invites", row);
  }

  /**
   * `rowMac` of protocol/state-seal.ts: the same bytes (the tests compare them), made
   * faster because every row a write adds or removes is macced (RowHmac).
   */
  private rowMac(table: SealedTable, row: readonly ColumnValue[]): Uint8Array {
    return this.hmac.mac(table, row);
  }

  /** XORs the row's mac (as `rowMac` makes it) into `digest`: a tally's step per row written. */
  xorRowMac(table: SealedTable, row: readonly ColumnValue[], digest: Uint8Array): void {
    this.hmac.xorInto(table, row, digest);
  }

  /**
   * The seal record, or undefined when the database has none yet. Throws E_INTEGRITY
   * when it does not verify (it was edited, or made with another key).
   */
  read(sqlite: Database): SealFields | undefined {
    const row = sqlite
      .query<
        {
          state_digest: Uint8Array;
          state_rows: number;
          changeset_digest: Uint8Array;
          changeset_rows: number;
          own_head: Uint8Array | null;
          verified_at: number | null;
          damage: string | null;
          mac: Uint8Array;
        },
        []
      >("SELECT * FROM state_seal WHERE id = 1")
      .get();
    if (!row) return undefined;
    const fields: SealFields = {
      device: this.device,
      stateDigest: new Uint8Array(row.state_digest),
      stateRows: row.state_rows,
      changesetDigest: new Uint8Array(row.changeset_digest),
      changesetRows: row.changeset_rows,
      ownHead: row.own_head === null ? null : new Uint8Array(row.own_head),
      verifiedAt: row.verified_at,
      damage: row.damage,
    };
    let verifies = false;
    try {
      verifies = bytesEqual(sealMac(this.key, fields), new Uint8Array(row.mac));
    } catch {
      // A digest of the wrong length: the record was edited.
    }
    if (!verifies) throw stateAltered(sqlite.filename, "its seal does not verify");
    return fields;
  }

  write(sqlite: Database, fields: Omit<SealFields, "device">): void {
    const sealed: SealFields = { ...fields, device: this.device };
    sqlite
      .query(
        `INSERT OR REPLACE INTO state_seal
           (id, state_digest, state_rows, changeset_digest, changeset_rows, own_head, verified_at, damage, mac)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
      )
      .run(
        sealed.stateDigest,
        sealed.stateRows,
        sealed.changesetDigest,
        sealed.changesetRows,
        sealed.ownHead,
        sealed.verifiedAt,
        sealed.damage,
        sealMac(this.key, sealed),
      );
  }

  /** Seals a new, empty database. */
  init(sqlite: Database): void {
    this.write(sqlite, {
      stateDigest: new Uint8Array(DIGEST_BYTES),
      stateRows: 0,
      changesetDigest: new Uint8Array(DIGEST_BYTES),
      changesetRows: 0,
      ownHead: null,
      verifiedAt: null,
      damage: null,
    });
  }

  /**
   * Starts the tally of one transaction's writes: call inside the transaction, and save
   * before it commits. Refuses (E_INTEGRITY) a database whose seal does not verify, is
   * missing or records damage: nothing is written on top of an altered state.
   */
  tally(sqlite: Database): SealTally {
    const current = this.read(sqlite);
    if (!current) throw stateAltered(sqlite.filename, "its seal is missing");
    if (current.damage !== null) throw stateAltered(sqlite.filename, current.damage);
    return new SealTally(this, sqlite, current);
  }

  /** The mac of this device's latest changeset as the table holds it, or null. */
  ownHead(sqlite: Database): Uint8Array | null {
    const row = sqlite
      .query<ColumnValue[], [string]>(
        `SELECT ${CHANGESET_COLUMNS} FROM changesets WHERE author = ?1 ORDER BY seq DESC LIMIT 1`,
      )
      .values(this.device)[0];
    return row ? this.changesetRowMac(row) : null;
  }
}

/**
 * HMAC-SHA256 under one key (RFC 2104) as two one-shot SHA-256 hashes: of the key's inner
 * pad block and the message, then of its outer pad block and that digest. The pad blocks
 * are made once per key, into buffers kept for the next row, where an HMAC object per row
 * (Bun's CryptoHasher with a key) sets the key up each time: about 0.6 µs a row instead of
 * 0.9 here, and a bulk merge macs each row it writes. A row is encoded where it is hashed,
 * right after the inner pad block, and its mac XORed into a digest from where it is
 * made: no view, copy or array per row (a merge of changesets of ten ops macs eleven rows
 * each).
 */
class RowHmac {
  private static readonly BLOCK_BYTES = 64;
  /** The inner pad block, then the row's encoding. */
  private inner = new Uint8Array(RowHmac.BLOCK_BYTES + 4096);
  private innerView = new DataView(this.inner.buffer);
  /** Views of `inner` from its start, by length: a view made per row cost as much as a hash. */
  private innerViews: Uint8Array[] = [];
  /** The outer pad block, then the inner digest. */
  private readonly outer = new Uint8Array(RowHmac.BLOCK_BYTES + DIGEST_BYTES);
  private readonly innerDigest = this.outer.subarray(RowHmac.BLOCK_BYTES);
  /** The last mac made, until the next. */
  private readonly last = new Uint8Array(DIGEST_BYTES);

  constructor(key: Uint8Array) {
    const block = RowHmac.BLOCK_BYTES;
    // Keys longer than a block would be hashed first; the seal key is 32 bytes.
    if (key.length > block) throw new Error("an HMAC key longer than a block is not supported");
    for (let i = 0; i < block; i++) {
      this.inner[i] = (key[i] ?? 0) ^ 0x36;
      this.outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
  }

  /** The row's mac, a new array. */
  mac(table: SealedTable, row: readonly ColumnValue[]): Uint8Array {
    return new Uint8Array(this.macInPlace(table, row));
  }

  /** XORs the row's mac into `digest`. */
  xorInto(table: SealedTable, row: readonly ColumnValue[], digest: Uint8Array): void {
    xorInto(digest, this.macInPlace(table, row));
  }

  /** The row's mac in a buffer kept for the next one. */
  private macInPlace(table: SealedTable, row: readonly ColumnValue[]): Uint8Array {
    const block = RowHmac.BLOCK_BYTES;
    const bound = block + 1 + rowMacInputBound(row);
    if (bound > this.inner.length) {
      const grown = new Uint8Array(Math.max(bound, this.inner.length * 2));
      grown.set(this.inner.subarray(0, block));
      this.inner = grown;
      this.innerView = new DataView(grown.buffer);
      this.innerViews = [];
    }
    const length = writeRowMacInput(table, row, this.inner, this.innerView, block);
    let view = this.innerViews[length];
    if (view === undefined) {
      view = this.inner.subarray(0, length);
      // Rows of a few KiB at most are kept; a longer one (a changeset's bytes) is rare.
      if (length <= 4096) this.innerViews[length] = view;
    }
    Bun.SHA256.hash(view, this.innerDigest);
    Bun.SHA256.hash(this.outer, this.last);
    return this.last;
  }
}

/**
 * The checkpoint held, as one transaction sees and changes it: what it covers, and the
 * digest of `checkpoint_base`, which the record keeps under its own mac.
 */
interface HeldCheckpoint {
  record: Omit<CheckpointRecord, "frontier"> | undefined;
  frontier: ReadonlyMap<string, number>;
  baseDigest: Uint8Array;
  baseRows: number;
  changed: boolean;
}

/** The changes one transaction makes to the sealed tables, applied to the seal at save. */
export class SealTally {
  private readonly stateDigest: Uint8Array;
  private readonly changesetDigest: Uint8Array;
  private stateRows: number;
  private changesetRows: number;
  private ownHead: Uint8Array | null;
  private changed = false;
  /** Read when first asked for (most writes never are). */
  private held: HeldCheckpoint | undefined;

  constructor(
    private readonly seal: StateSeal,
    private readonly sqlite: Database,
    private readonly base: SealFields,
  ) {
    this.stateDigest = new Uint8Array(base.stateDigest);
    this.changesetDigest = new Uint8Array(base.changesetDigest);
    this.stateRows = base.stateRows;
    this.changesetRows = base.changesetRows;
    this.ownHead = base.ownHead;
  }

  get device(): DeviceId {
    return this.seal.device;
  }

  addStateRow(row: StateRow): void {
    this.seal.xorRowMac("state", row, this.stateDigest);
    this.stateRows++;
    this.changed = true;
  }

  removeStateRow(row: StateRow): void {
    this.seal.xorRowMac("state", row, this.stateDigest);
    this.stateRows--;
    this.changed = true;
  }

  /** Adds a changeset row; this device's own becomes the head of its feed. */
  addChangesetRow(row: ChangesetRow): void {
    if (row[1] === this.seal.device) {
      const mac = this.seal.changesetRowMac(row);
      xorInto(this.changesetDigest, mac);
      this.ownHead = mac;
    } else {
      this.seal.xorRowMac("changesets", row, this.changesetDigest);
    }
    this.changesetRows++;
    this.changed = true;
  }

  /** Removes a changeset row; removing one of this device's own finds its head again. */
  removeChangesetRow(row: ChangesetRow): void {
    this.seal.xorRowMac("changesets", row, this.changesetDigest);
    this.changesetRows--;
    if (row[1] === this.seal.device) this.ownHead = this.seal.ownHead(this.sqlite);
    this.changed = true;
  }

  /**
   * Removes changeset rows no longer needed (superseded by the checkpoint), none of them
   * this device's latest: its head is not looked for again.
   */
  pruneChangesetRow(row: ChangesetRow): void {
    this.seal.xorRowMac("changesets", row, this.changesetDigest);
    this.changesetRows--;
    this.changed = true;
  }

  /** The checkpoint this device holds (as this transaction has made it so far), if any. */
  checkpoint(): Omit<CheckpointRecord, "frontier"> | undefined {
    return this.heldCheckpoint().record;
  }

  /** Per author, the last seq the checkpoint held covers (empty without one). */
  frontier(): ReadonlyMap<string, number> {
    return this.heldCheckpoint().frontier;
  }

  /** Whether the checkpoint held covers changeset `seq` of `author`. */
  covered(author: string, seq: number): boolean {
    const held = this.held ?? this.heldCheckpoint();
    return held.frontier.size > 0 && seq <= (held.frontier.get(author) ?? 0);
  }

  addBaseRow(row: StateRow): void {
    const held = this.heldCheckpoint();
    this.seal.xorRowMac("checkpoint_base", row, held.baseDigest);
    held.baseRows++;
    held.changed = true;
  }

  removeBaseRow(row: StateRow): void {
    const held = this.heldCheckpoint();
    this.seal.xorRowMac("checkpoint_base", row, held.baseDigest);
    held.baseRows--;
    held.changed = true;
  }

  /**
   * Holds `checkpoint` from now on, in place of the one before; `checkpoint_base` must
   * be empty by then (its rows removed through this tally).
   */
  adoptCheckpoint(record: Pick<CheckpointRecord, "checkpoint" | "endorsements" | "adoptedAt">) {
    const held = this.heldCheckpoint();
    if (held.baseRows !== 0) throw new Error("checkpoint_base must be emptied before adopting");
    held.record = { ...record, baseDigest: held.baseDigest, baseRows: 0 };
    held.frontier = frontierSeqs(record.checkpoint);
    held.changed = true;
  }

  /** Holds no checkpoint any more (`checkpoint_base` emptied first). */
  dropCheckpoint(): void {
    const held = this.heldCheckpoint();
    if (held.baseRows !== 0) throw new Error("checkpoint_base must be emptied before dropping");
    held.record = undefined;
    held.frontier = new Map();
    held.changed = true;
  }

  private heldCheckpoint(): HeldCheckpoint {
    if (!this.held) {
      const record = readCheckpointRecord(this.sqlite, this.seal);
      this.held = {
        record,
        frontier: record?.frontier ?? new Map(),
        baseDigest: new Uint8Array(record?.baseDigest ?? new Uint8Array(DIGEST_BYTES)),
        baseRows: record?.baseRows ?? 0,
        changed: false,
      };
    }
    return this.held;
  }

  /** Finds this device's latest changeset again (after pruneChangesetRow, which does not). */
  refreshOwnHead(): void {
    this.ownHead = this.seal.ownHead(this.sqlite);
    this.changed = true;
  }

  /**
   * Refuses (E_INTEGRITY) unless this device's latest changeset is the one it sealed: it
   * is about to sign the next, and signing a seq twice is what its peers quarantine it for.
   */
  requireOwnHead(): void {
    const head = this.seal.ownHead(this.sqlite);
    const sealed = this.base.ownHead;
    if (head === null ? sealed === null : sealed !== null && bytesEqual(head, sealed)) return;
    throw stateAltered(
      this.sqlite.filename,
      "this device's latest changeset is not the one it last wrote",
    );
  }

  save(): void {
    const held = this.held;
    if (held?.changed) {
      if (held.record)
        writeCheckpointRecord(this.sqlite, this.seal, {
          ...held.record,
          baseDigest: held.baseDigest,
          baseRows: held.baseRows,
        });
      else this.sqlite.run("DELETE FROM checkpoint");
      held.changed = false;
    }
    if (!this.changed) return;
    this.seal.write(this.sqlite, {
      ...this.base,
      stateDigest: this.stateDigest,
      stateRows: this.stateRows,
      changesetDigest: this.changesetDigest,
      changesetRows: this.changesetRows,
      ownHead: this.ownHead,
    });
    this.changed = false;
  }
}

export { MEND_HINT, stateAltered } from "./altered.ts";
