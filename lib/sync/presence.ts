/**
 * Who is alive: each device's newest presence record (protocol/presence.ts), kept one
 * row per device (lib/sync/device-records.ts) and passed on with every sync message. Only
 * members in good standing are heard.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { decodePresence, type Presence, verifyPresence } from "../../protocol/presence.ts";
import type { StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import {
  keepNewest,
  type RecordContext,
  type RecordKind,
  receiveNewest,
} from "./device-records.ts";

const PRESENCE: RecordKind<Presence> = {
  table: "presence",
  decode: decodePresence,
  verify: (record, key) => verifyPresence(record as ReturnType<typeof decodePresence>, key),
  counts: (standing) => standing === "member",
};

/** Keeps `record`, heard at `nowMs` here, if it is newer than what is held of its device. */
export function keepPresence(db: StateDb, record: Presence, nowMs: number): boolean {
  return keepNewest(db, PRESENCE, record, nowMs);
}

/** Takes the records a peer sent: those that verify and are newer are kept. Returns how many. */
export function receivePresence(
  db: StateDb,
  records: readonly Uint8Array[],
  context: RecordContext,
): number {
  return receiveNewest(db, PRESENCE, records, context);
}

/** Every record held, to pass on. */
export function heldPresence(db: StateReader): Uint8Array[] {
  return sqliteOf(db)
    .query<{ bytes: Uint8Array }, []>("SELECT bytes FROM presence")
    .all()
    .map((row) => new Uint8Array(row.bytes));
}

/**
 * When this node last heard each device say it was alive (this node's clock: a fresh
 * record counts from its arrival, so the devices' clocks need not agree). A record this
 * node missed, relayed late, makes its device look alive for one window more: bounded,
 * and far less than clocks a minute apart would cost.
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
