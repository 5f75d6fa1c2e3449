/**
 * Who is alive: each device's newest presence record (protocol/presence.ts), kept one
 * row per device and passed on with every sync message. A record counts only if its
 * device is a member in good standing, it is for this zone, it verifies, and its clock
 * is not too far ahead; an older one than held changes nothing.
 */
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { decodePresence, type Presence, verifyPresence } from "../../protocol/presence.ts";
import type { StateDb, StateQueries } from "../store/db.ts";
import { presence } from "../store/schema.ts";
import { MAX_CLOCK_AHEAD_MS } from "./ingest.ts";
import { type Membership, standingOf } from "./membership.ts";

/** Keeps `record`, heard at `nowMs` here, if it is newer than what is held of its device. */
export function keepPresence(db: StateDb, record: Presence, nowMs: number): boolean {
  const result = db.$client
    .query(
      `INSERT INTO presence (device, at, heard_at, bytes) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (device) DO UPDATE
       SET at = excluded.at, heard_at = excluded.heard_at, bytes = excluded.bytes
       WHERE excluded.at > presence.at`,
    )
    .run(record.device, record.at, nowMs, record.bytes);
  return result.changes > 0;
}

/**
 * Takes the records a peer sent: those that verify and are newer are kept; the others
 * are passed over (a peer may relay a revoked device's last word; that is no fault).
 * Returns how many were kept.
 */
export function receivePresence(
  db: StateDb,
  records: readonly Uint8Array[],
  context: { zone: ZoneId; membership: Membership; nowMs: number },
): number {
  let kept = 0;
  const held = newestSaid(db);
  for (const bytes of records) {
    try {
      const record = decodePresence(bytes);
      // Most records are ones this node holds already: those cost no signature check.
      if (record.at <= (held.get(record.device) ?? -1)) continue;
      if (record.zone !== context.zone) continue;
      if (standingOf(context.membership, record.device) !== "member") continue;
      if (record.at > context.nowMs + MAX_CLOCK_AHEAD_MS) continue;
      verifyPresence(
        record,
        verifyKeyFromPublicKey(publicKeyOfId(record.device, "device") as Uint8Array),
      );
      if (keepPresence(db, record, context.nowMs)) kept++;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return kept;
}

/** Every record held, to pass on. */
export function heldPresence(db: StateQueries): Uint8Array[] {
  return db
    .select({ bytes: presence.bytes })
    .from(presence)
    .all()
    .map((row) => new Uint8Array(row.bytes));
}

/**
 * When this node last heard each device say it was alive (this node's clock: a fresh
 * record counts from its arrival, so the devices' clocks need not agree). A record this
 * node missed, relayed late, makes its device look alive for one window more: bounded,
 * and far less than clocks a minute apart would cost.
 */
export function lastHeardAlive(db: StateQueries): Map<DeviceId, number> {
  return new Map(
    db
      .select({ device: presence.device, heardAt: presence.heardAt })
      .from(presence)
      .all()
      .map((row) => [row.device as DeviceId, row.heardAt]),
  );
}

/** The newest `at` (the device's own clock) held of each device: which records are news. */
function newestSaid(db: StateQueries): Map<DeviceId, number> {
  return new Map(
    db
      .select({ device: presence.device, at: presence.at })
      .from(presence)
      .all()
      .map((row) => [row.device as DeviceId, row.at]),
  );
}
