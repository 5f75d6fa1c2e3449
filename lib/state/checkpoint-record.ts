/**
 * The checkpoint this device holds, as its `checkpoint` row keeps it (one row, none
 * before the first): the body, the endorsements it was agreed by, and the digest of
 * `checkpoint_base`, all under a mac only the device key gives, like the rest of the
 * sealed state. Whoever edits the row, or a row of `checkpoint_base`, is found by the
 * next check.
 */
import type { Database } from "bun:sqlite";
import { decodeCbor, encodeCbor } from "../../protocol/cbor.ts";
import { type Checkpoint, decodeCheckpoint, frontierSeqs } from "../../protocol/checkpoint.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { DIGEST_BYTES } from "../../protocol/state-seal.ts";
import { stateAltered } from "./altered.ts";
import type { StateSeal } from "./seal.ts";

export interface CheckpointRecord {
  readonly checkpoint: Checkpoint;
  /** The changesets that endorse it, as received. */
  readonly endorsements: readonly Uint8Array[];
  readonly adoptedAt: number;
  /** XOR of the macs of the rows of checkpoint_base, and their count. */
  readonly baseDigest: Uint8Array;
  readonly baseRows: number;
  /** Per author, the last seq the checkpoint covers. */
  readonly frontier: ReadonlyMap<string, number>;
}

interface RecordRow {
  body: Uint8Array;
  endorsements: Uint8Array;
  adopted_at: number;
  base_digest: Uint8Array;
  base_rows: number;
  mac: Uint8Array;
}

/** The columns a record's mac covers, in order. */
function columns(row: Omit<RecordRow, "mac">) {
  return [row.body, row.endorsements, row.adopted_at, row.base_digest, row.base_rows] as const;
}

/**
 * The checkpoint held, checked against its mac; undefined when there is none. Throws
 * E_INTEGRITY when the row was altered.
 */
export function readCheckpointRecord(
  sqlite: Database,
  seal: StateSeal,
): CheckpointRecord | undefined {
  const row = sqlite
    .query<RecordRow, []>(
      "SELECT body, endorsements, adopted_at, base_digest, base_rows, mac FROM checkpoint WHERE id = 1",
    )
    .get();
  if (!row) return undefined;
  const fields = {
    body: new Uint8Array(row.body),
    endorsements: new Uint8Array(row.endorsements),
    adopted_at: row.adopted_at,
    base_digest: new Uint8Array(row.base_digest),
    base_rows: row.base_rows,
  };
  if (!bytesEqual(seal.checkpointMac(columns(fields)), new Uint8Array(row.mac)))
    throw stateAltered(sqlite.filename, "its checkpoint record does not verify");
  return recordOf(sqlite, fields);
}

/**
 * The checkpoint held, unchecked (its mac is checked whenever the zone is opened and by
 * the daemon's checks): for readers without the device key, such as membership.
 */
export function peekCheckpointRecord(sqlite: Database): CheckpointRecord | undefined {
  const row = sqlite
    .query<RecordRow, []>(
      "SELECT body, endorsements, adopted_at, base_digest, base_rows, mac FROM checkpoint WHERE id = 1",
    )
    .get();
  return row
    ? recordOf(sqlite, {
        body: new Uint8Array(row.body),
        endorsements: new Uint8Array(row.endorsements),
        adopted_at: row.adopted_at,
        base_digest: new Uint8Array(row.base_digest),
        base_rows: row.base_rows,
      })
    : undefined;
}

function recordOf(sqlite: Database, row: Omit<RecordRow, "mac">): CheckpointRecord {
  try {
    const checkpoint = decodeCheckpoint(row.body);
    const endorsements = decodeCbor(row.endorsements, 64 * 1024 * 1024, "endorsements");
    if (!Array.isArray(endorsements) || !endorsements.every((e) => e instanceof Uint8Array))
      throw new ProtocolError("the endorsements are not a list of changesets");
    if (row.base_digest.length !== DIGEST_BYTES)
      throw new ProtocolError("the base digest has the wrong length");
    return {
      checkpoint,
      endorsements: endorsements as Uint8Array[],
      adoptedAt: row.adopted_at,
      baseDigest: row.base_digest,
      baseRows: row.base_rows,
      frontier: frontierSeqs(checkpoint),
    };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw stateAltered(sqlite.filename, `its checkpoint record is damaged: ${error.message}`);
  }
}

/** Writes the record (replacing any), under a fresh mac. */
export function writeCheckpointRecord(
  sqlite: Database,
  seal: StateSeal,
  record: Omit<CheckpointRecord, "frontier">,
): void {
  const fields = {
    body: record.checkpoint.bytes,
    endorsements: encodeCbor(record.endorsements),
    adopted_at: record.adoptedAt,
    base_digest: record.baseDigest,
    base_rows: record.baseRows,
  };
  sqlite
    .query(
      `INSERT OR REPLACE INTO checkpoint (id, body, endorsements, adopted_at, base_digest, base_rows, mac)
       VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)`,
    )
    .run(
      fields.body,
      fields.endorsements,
      fields.adopted_at,
      fields.base_digest,
      fields.base_rows,
      seal.checkpointMac(columns(fields)),
    );
}
