/**
 * The zone's records of damage verifies found (protocol/backup/damage-record.ts): written
 * by the device that verified, for each device whose snapshots need a damaged blob; read
 * by that device's next backup, which stores them again and takes off the record what it
 * handled; read by every device's status, which says the damage until then.
 */
import {
  DAMAGE_RECORD_PREFIX,
  type DamageRecord,
  damageRecordKey,
  decodeDamageRecord,
  encodeDamageRecord,
  MAX_DAMAGED_BLOBS_RECORDED,
} from "../../protocol/backup/damage-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type StateReader, stateRowsUnder, stateValue } from "../store/reads.ts";
import { readZoneTargets } from "./zone-targets.ts";

/**
 * How a backup or verify writes the zone's damage records: without waiting for another
 * device to hold them. They say what this device found of the target, as its status does,
 * and the target keeps what they say: a record lost with this device before it synced is
 * found again by the next verify that reads that data back, and the damage a removal said
 * was stored again is stored. Waited for, each record kept a verify or a backup 3 s longer
 * while the other devices were off, telling nobody why.
 */
export const DAMAGE_RECORD_WRITE = { wait: false } as const;

/**
 * Every damage record the zone holds that reads as one, of a target it has now: one of a
 * target removed since, or found before it was added again under its name, is of no
 * repository a backup goes to.
 */
export function readDamageRecords(db: StateReader): DamageRecord[] {
  const targets = new Map(readZoneTargets(db).map((t) => [t.name, Date.parse(t.addedAt)]));
  const records: DamageRecord[] = [];
  for (const { key, value } of stateRowsUnder(db, DAMAGE_RECORD_PREFIX)) {
    const record = decoded(key, value);
    const addedAt = record && targets.get(record.target);
    if (record && addedAt !== undefined && !(Date.parse(record.foundAt) < addedAt))
      records.push(record);
  }
  return records;
}

/** The record of `device`'s damage in `target`, if any. */
export function readDamageRecord(
  db: StateReader,
  target: string,
  device: string,
): DamageRecord | undefined {
  const key = damageRecordKey(target, device);
  const value = stateValue(db, key);
  return value === undefined || value === null ? undefined : decoded(key, value);
}

/**
 * The ops that add what a verify by `foundBy` found (`found`: by device, the damaged blobs
 * its snapshots need) to the records of `target`: added to what each holds, as a verify of
 * a sample finds other blobs than the one before, and neither may hide the other's.
 */
export function foundDamageOps(
  db: StateReader,
  target: string,
  found: ReadonlyMap<string, readonly string[]>,
  foundBy: string,
  foundAt: string,
): Op[] {
  const ops: Op[] = [];
  for (const [device, ids] of found) {
    const held = readDamageRecord(db, target, device)?.blobs ?? [];
    const blobs = [...new Set([...held, ...ids])].slice(0, MAX_DAMAGED_BLOBS_RECORDED);
    if (blobs.length === held.length) continue; // nothing new: the record says it already
    ops.push({
      key: damageRecordKey(target, device),
      value: encodeDamageRecord({ target, device, blobs, foundBy, foundAt }),
    });
  }
  return ops;
}

/**
 * The op that takes `handled` off `device`'s record in `target` (its backup stored again
 * those it still holds; the others it cannot): what a verify added since stays.
 */
export function handledDamageOps(
  db: StateReader,
  target: string,
  device: string,
  handled: readonly string[],
): Op[] {
  const record = readDamageRecord(db, target, device);
  if (!record) return [];
  const done = new Set(handled);
  const left = record.blobs.filter((id) => !done.has(id));
  if (left.length === record.blobs.length) return [];
  const key = damageRecordKey(target, device);
  return [
    { key, value: left.length === 0 ? null : encodeDamageRecord({ ...record, blobs: left }) },
  ];
}

function decoded(key: string, value: string): DamageRecord | undefined {
  try {
    return decodeDamageRecord(key, JSON.parse(value));
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
