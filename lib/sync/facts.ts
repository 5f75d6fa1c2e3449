/**
 * Device facts as this node holds them (protocol/device-facts.ts): the newest record of
 * each device, one row each, passed on to peers that lack it. A record counts only if its
 * device is a member of this zone (revoked ones' last words are kept, but readers leave
 * them out), it verifies, and its clock is not too far ahead; an older one changes nothing.
 */
import { type DeviceFacts, decodeFacts, verifyFacts } from "../../protocol/device-facts.ts";
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import type { StateDb, StateQueries } from "../store/db.ts";
import { deviceFacts } from "../store/schema.ts";
import { MAX_CLOCK_AHEAD_MS } from "./ingest.ts";
import { type Membership, standingOf } from "./membership.ts";

/** Keeps `record`, heard at `nowMs` here, if it is newer than what is held of its device. */
export function keepFacts(db: StateDb, record: DeviceFacts, nowMs: number): boolean {
  const result = db.$client
    .query(
      `INSERT INTO device_facts (device, at, heard_at, bytes) VALUES (?1, ?2, ?3, ?4)
       ON CONFLICT (device) DO UPDATE
       SET at = excluded.at, heard_at = excluded.heard_at, bytes = excluded.bytes
       WHERE excluded.at > device_facts.at`,
    )
    .run(record.device, record.at, nowMs, record.bytes);
  return result.changes > 0;
}

/** Takes the records a peer sent: those that verify and are newer are kept. Returns how many. */
export function receiveFacts(
  db: StateDb,
  records: readonly Uint8Array[],
  context: { zone: ZoneId; membership: Membership; nowMs: number },
): number {
  let kept = 0;
  const held = factsVector(db);
  for (const bytes of records) {
    try {
      const record = decodeFacts(bytes);
      if (record.at <= (held.get(record.device) ?? -1)) continue;
      if (record.zone !== context.zone) continue;
      if (standingOf(context.membership, record.device) === "unknown") continue;
      if (record.at > context.nowMs + MAX_CLOCK_AHEAD_MS) continue;
      verifyFacts(
        record,
        verifyKeyFromPublicKey(publicKeyOfId(record.device, "device") as Uint8Array),
      );
      if (keepFacts(db, record, context.nowMs)) kept++;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return kept;
}

/** The `at` of the newest record held of each device: what to tell a peer this node has. */
export function factsVector(db: StateQueries): Map<DeviceId, number> {
  return new Map(
    db
      .select({ device: deviceFacts.device, at: deviceFacts.at })
      .from(deviceFacts)
      .all()
      .map((row) => [row.device as DeviceId, row.at]),
  );
}

/** The records held that are newer than what `theirs` says the peer has. */
export function factsNewerThan(db: StateQueries, theirs: VersionVector): Uint8Array[] {
  return db
    .select()
    .from(deviceFacts)
    .all()
    .filter((row) => row.at > (theirs.get(row.device as DeviceId) ?? -1))
    .map((row) => new Uint8Array(row.bytes));
}

/**
 * Every device's newest facts, with when they arrived here. Each is checked again as it is
 * read (a row edited on disk is left out, not believed): they are few, and small.
 */
export function heldFacts(db: StateQueries): (DeviceFacts & { readonly heardAt: number })[] {
  return db
    .select()
    .from(deviceFacts)
    .all()
    .flatMap((row) => {
      try {
        const record = decodeFacts(new Uint8Array(row.bytes));
        if (record.device !== row.device) return [];
        verifyFacts(
          record,
          verifyKeyFromPublicKey(publicKeyOfId(record.device, "device") as Uint8Array),
        );
        return [{ ...record, heardAt: row.heardAt }];
      } catch (error) {
        if (error instanceof ProtocolError) return [];
        throw error;
      }
    });
}
