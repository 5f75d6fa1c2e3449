/**
 * Who is alive: each device's newest presence record (protocol/presence.ts), kept one
 * row per device (lib/sync/device-records.ts) and passed on with every sync message. Only
 * members in good standing are heard.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { decodePresence, type Presence, verifyPresence } from "../../protocol/presence.ts";
import type { StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { keepOwn, type RecordContext, type RecordKind, receiveNewest } from "./device-records.ts";

export const PRESENCE: RecordKind<Presence> = {
  table: "presence",
  decode: decodePresence,
  verify: (record, key) => verifyPresence(record as ReturnType<typeof decodePresence>, key),
  counts: (standing) => standing === "member",
};

/** Keeps this device's own `record`, signed at `nowMs`, in place of what it held (keepOwn). */
export function keepPresence(db: StateDb, record: Presence, nowMs: number): void {
  keepOwn(db, PRESENCE, record, nowMs);
}

/**
 * A span this device was away (not running, or asleep), hearing no one: from its last
 * heartbeat before it to when it was back (its own clock).
 */
export interface AwaySpan {
  readonly fromMs: number;
  readonly untilMs: number;
}

/**
 * The span from this device's last heartbeat to `startMs`: read before a heartbeat, its own last
 * presence dates its last heartbeat (at its run's start, the end of the run before, a
 * heartbeat at most before it). Undefined for a device never run before.
 */
export function awayBefore(
  db: StateReader,
  device: DeviceId,
  startMs: number,
): AwaySpan | undefined {
  const last = sqliteOf(db)
    .query<{ heardAt: number }, [string]>(
      "SELECT heard_at AS heardAt FROM presence WHERE device = ?1",
    )
    .get(device)?.heardAt;
  return last === undefined ? undefined : { fromMs: last, untilMs: startMs };
}

/** Takes the records a peer sent: those that verify and are newer are kept. Returns how many. */
export function receivePresence(
  db: StateDb,
  records: readonly Uint8Array[],
  context: RecordContext,
): number {
  return receiveNewest(db, PRESENCE, records, context);
}

/**
 * Every record held, to pass on, each with how long before `nowMs` it was heard here (a
 * sync message's `presenceAgesMs`): the receiver counts it from then, not from its arrival.
 */
export function presenceToPass(
  db: StateReader,
  nowMs: number,
): { presence: Uint8Array[]; presenceAgesMs: number[] } {
  const rows = sqliteOf(db)
    .query<{ bytes: Uint8Array; heardAt: number }, []>(
      "SELECT bytes, heard_at AS heardAt FROM presence",
    )
    .all();
  return {
    presence: rows.map((row) => new Uint8Array(row.bytes)),
    presenceAgesMs: rows.map((row) => Math.max(0, Math.round(nowMs - row.heardAt))),
  };
}

/**
 * When each device was last heard to say it was alive, by this node's clock: a record
 * counts from its arrival, less how long before that the device passing it on had heard
 * it (sync's `presenceAgesMs`), so the devices' clocks need not agree, and a device that
 * joins late counts a month-silent device's record from a month ago, as the others do.
 * (From a device that says no ages, a record counts from its arrival: one silent device
 * may then look alive for one window more.)
 */
export function lastHeardAlive(db: StateReader): Map<DeviceId, number> {
  return new Map(
    sqliteOf(db)
      .query<{ device: string; heardAt: number }, []>(
        "SELECT device, heard_at AS heardAt FROM presence",
      )
      .all()
      .map((row) => [row.device as DeviceId, row.heardAt]),
  );
}

/**
 * Whether a device heard alive at `heardAtMs` (by this node's clock, as lastHeardAlive
 * says) is live at `nowMs`: heard within `windowMs` either way of now. A hearing dated
 * ahead of now by more is from before this node's clock was set back, by how much no one
 * can tell: taken as recent, it kept a dead device online for as long as the step.
 */
export function heardWithin(
  heardAtMs: number | null | undefined,
  nowMs: number,
  windowMs: number,
): boolean {
  return heardAtMs !== undefined && heardAtMs !== null && Math.abs(nowMs - heardAtMs) <= windowMs;
}
