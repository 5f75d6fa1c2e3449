/**
 * Device facts as this node holds them (protocol/device-facts.ts): the newest record of
 * each device, passed on to peers that lack it (lib/sync/device-records.ts keeps them).
 * A revoked device's last word is kept too; readers leave it out.
 */
import { type DeviceFacts, decodeFacts, verifyFacts } from "../../protocol/device-facts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";
import type { StateDb, StateQueries } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import {
  heldRecords,
  keepOwn,
  newestAt,
  type RecordContext,
  type RecordKind,
  receiveNewest,
} from "./device-records.ts";

export const FACTS: RecordKind<DeviceFacts> = {
  table: "device_facts",
  decode: decodeFacts,
  verify: (record, key) => verifyFacts(record as ReturnType<typeof decodeFacts>, key),
  counts: (standing) => standing !== "unknown",
};

/** Keeps this device's own `record`, signed at `nowMs`, in place of what it held (keepOwn). */
export function keepFacts(db: StateDb, record: DeviceFacts, nowMs: number): void {
  keepOwn(db, FACTS, record, nowMs);
}

/** Takes the records a peer sent: those that verify and are newer are kept. Returns how many. */
export function receiveFacts(
  db: StateDb,
  records: readonly Uint8Array[],
  context: RecordContext,
): number {
  return receiveNewest(db, FACTS, records, context);
}

/** The `at` of the newest record held of each device: what to tell a peer this node has. */
export function factsVector(db: StateQueries): Map<DeviceId, number> {
  return newestAt(db, FACTS);
}

/** The records held that are newer than what `theirs` says the peer has. */
export function factsNewerThan(db: StateQueries, theirs: VersionVector): Uint8Array[] {
  return sqliteOf(db)
    .query<{ device: string; at: number; bytes: Uint8Array }, []>(
      "SELECT device, at, bytes FROM device_facts",
    )
    .all()
    .filter((row) => row.at > (theirs.get(row.device as DeviceId) ?? -1))
    .map((row) => new Uint8Array(row.bytes));
}

/** The newest facts record held of `device`, as it was signed: to send on. */
export function factsRecordOf(db: StateQueries, device: DeviceId): Uint8Array | undefined {
  const row = sqliteOf(db)
    .query<{ bytes: Uint8Array }, [string]>("SELECT bytes FROM device_facts WHERE device = ?1")
    .get(device);
  return row ? new Uint8Array(row.bytes) : undefined;
}

/** Every device's newest facts, checked again as read, with when they arrived here. */
export function heldFacts(db: StateReader): (DeviceFacts & { readonly heardAt: number })[] {
  return heldRecords(db, FACTS);
}

/** The newest facts held of `device`, if any. */
export function heldFactsOf(db: StateReader, device: DeviceId): DeviceFacts | undefined {
  return heldFacts(db).find((held) => held.device === device);
}
