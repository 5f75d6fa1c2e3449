/**
 * The newest signed record each device said of itself, one row per device: presence (who
 * is alive) and device facts (what each knows of itself). Both travel with sync exchanges
 * outside the changeset log, and both are kept the same way: a record counts only if its
 * device is a member of this zone, it verifies, and its clock is not too far ahead; an
 * older one than held changes nothing.
 */

import { type VerifyKey, verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import type { StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { type MemberStanding, type Membership, standingOf } from "./membership.ts";

export interface DeviceRecord {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  /** When the device said it (its clock): the newer record wins. */
  readonly at: number;
  /** The whole record as stored and sent. */
  readonly bytes: Uint8Array;
}

/** A kind of record: where it is kept, how it is read and checked, whose count. */
export interface RecordKind<R extends DeviceRecord> {
  /** Its table: one row per device (device, at, heard_at, bytes). */
  readonly table: "presence" | "device_facts";
  /** Throws ProtocolError on a malformed record. */
  decode(bytes: Uint8Array): R;
  /** Throws ProtocolError unless the device's key signed it. */
  verify(record: R, key: VerifyKey): void;
  /** Whether a device of this standing is heard. */
  counts(standing: MemberStanding): boolean;
}

/** Keeps `record`, heard at `nowMs` here, if it is newer than what is held of its device. */
export function keepNewest(
  db: StateDb,
  kind: RecordKind<DeviceRecord>,
  record: DeviceRecord,
  nowMs: number,
): boolean {
  const kept = sqliteOf(db)
    .query<{ device: string }, [string, number, number, Uint8Array]>(
      `INSERT INTO ${kind.table} (device, at, heard_at, bytes) VALUES (?, ?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET at = excluded.at, heard_at = excluded.heard_at, bytes = excluded.bytes
       WHERE excluded.at > ${kind.table}.at
       RETURNING device`,
    )
    .all(record.device, record.at, nowMs, record.bytes);
  return kept.length > 0;
}

/**
 * Keeps this device's own `record`, signed at `nowMs`, in place of what it held: its newest
 * word, even dated before one it signed while its clock was ahead (which peers refuse, and
 * which it would otherwise pass on, and be named ahead for, until real time caught up).
 */
export function keepOwn(
  db: StateDb,
  kind: RecordKind<DeviceRecord>,
  record: DeviceRecord,
  nowMs: number,
): void {
  sqliteOf(db)
    .query<unknown, [string, number, number, Uint8Array]>(
      `INSERT INTO ${kind.table} (device, at, heard_at, bytes) VALUES (?, ?, ?, ?)
       ON CONFLICT (device) DO UPDATE SET at = excluded.at, heard_at = excluded.heard_at, bytes = excluded.bytes`,
    )
    .run(record.device, record.at, nowMs, record.bytes);
}

/**
 * When to date this device's next record of `kind`: by its clock, or just after the last
 * one it signed when its clock went back since (set back by hand, or a board without a
 * clock battery booted with an old time). A peer keeps only a record newer than the one
 * it holds: dated by the clock alone, every record signed until real time caught up was
 * passed over, and the zone heard nothing new of this device (its facts, its word on whose
 * clock it refuses) for as long as its clock had gone back. Not when `refusedAhead()` (the
 * zone says this device's clock is ahead; asked only when the clock went back): that last
 * record was refused, the peers hold an older one, and one dated after it would be
 * refused too (keepOwn).
 */
export function ownRecordAt(
  db: StateReader,
  kind: RecordKind<DeviceRecord>,
  device: DeviceId,
  nowMs: number,
  refusedAhead: () => boolean,
): number {
  const last = newestAt(db, kind).get(device);
  return last === undefined || nowMs > last || refusedAhead() ? nowMs : last + 1;
}

/** Who sent records, and to whom to tell that a device's clock is too far ahead. */
export interface RecordContext {
  readonly zone: ZoneId;
  readonly membership: Membership;
  readonly nowMs: number;
  /** Told of a record of `device`'s, dated `atMs` by its clock, refused as too far ahead. */
  readonly clockAhead?: (device: DeviceId, atMs: number) => void;
  /**
   * How long before sending the sender heard each record (by its clock, in the order of
   * the records): one is taken as heard that long before `nowMs` here, so that a record
   * passed on late counts from when it was first heard, on every device alike.
   */
  readonly agesMs?: readonly number[];
  /** Told of each record kept, once it is. */
  readonly kept?: (record: DeviceRecord) => void;
}

/**
 * Takes the records a peer sent: those that verify and are newer are kept; the others
 * are passed over (a peer may relay a revoked device's last word; that is no fault). One
 * too far ahead of this device's clock is checked first: it says its device's clock is.
 * Returns how many were kept.
 */
export function receiveNewest<R extends DeviceRecord>(
  db: StateDb,
  kind: RecordKind<R>,
  records: readonly Uint8Array[],
  context: RecordContext,
): number {
  let kept = 0;
  const held = newestAt(db, kind);
  for (const [index, bytes] of records.entries()) {
    try {
      const record = kind.decode(bytes);
      // Most records are ones this node holds already: those cost no signature check.
      if (record.at <= (held.get(record.device) ?? -1)) continue;
      if (record.zone !== context.zone) continue;
      if (!kind.counts(standingOf(context.membership, record.device))) continue;
      kind.verify(record, keyOf(record.device));
      if (record.at > context.nowMs + MAX_CLOCK_AHEAD_MS) {
        // Its own record (checked): its clock is ahead, which the zone must be told.
        context.clockAhead?.(record.device, record.at);
        continue;
      }
      // Never older than the record says it is (by this clock): a member passing it on
      // cannot make a device look gone for longer than it has been silent.
      const ageMs = Math.min(
        Math.max(0, context.agesMs?.[index] ?? 0),
        Math.max(0, context.nowMs - record.at),
      );
      if (keepNewest(db, kind as RecordKind<DeviceRecord>, record, context.nowMs - ageMs)) {
        kept++;
        context.kept?.(record);
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return kept;
}

/** The `at` of the newest record held of each device (the device's own clock). */
export function newestAt(db: StateReader, kind: RecordKind<DeviceRecord>): Map<DeviceId, number> {
  return new Map(
    sqliteOf(db)
      .query<{ device: string; at: number }, []>(`SELECT device, at FROM ${kind.table}`)
      .all()
      .map((row) => [row.device as DeviceId, row.at]),
  );
}

/**
 * Records that verified, by kind and device, with their bytes: whether a record's device
 * signed it depends on its bytes alone, and each device's row changes only when it says
 * something new, while convergence, status and the gateway read them all every few
 * seconds (each check an Ed25519 verification: found profiling an idle daemon).
 */
const verified = new WeakMap<RecordKind<DeviceRecord>, Map<string, DeviceRecord>>();

/** Every record held, with when it arrived here, rows that no longer verify left out. */
export function heldRecords<R extends DeviceRecord>(
  db: StateReader,
  kind: RecordKind<R>,
): (R & { readonly heardAt: number })[] {
  const seen = (verified.get(kind) ?? new Map()) as Map<string, R>;
  verified.set(kind, seen);
  return sqliteOf(db)
    .query<{ device: string; heardAt: number; bytes: Uint8Array }, []>(
      `SELECT device, heard_at AS heardAt, bytes FROM ${kind.table}`,
    )
    .all()
    .flatMap((row) => {
      const bytes = new Uint8Array(row.bytes);
      const held = seen.get(row.device);
      if (held && Buffer.from(held.bytes).equals(bytes)) return [{ ...held, heardAt: row.heardAt }];
      try {
        const record = kind.decode(bytes);
        if (record.device !== row.device) return [];
        kind.verify(record, keyOf(record.device));
        seen.set(row.device, record);
        return [{ ...record, heardAt: row.heardAt }];
      } catch (error) {
        if (error instanceof ProtocolError) return [];
        throw error;
      }
    });
}

function keyOf(device: DeviceId): VerifyKey {
  return verifyKeyFromPublicKey(publicKeyOfId(device, "device") as Uint8Array);
}
