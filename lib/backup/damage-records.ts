/**
 * The zone's records of damage verifies found (protocol/backup/damage-record.ts): written
 * by the device that verified, for each device whose snapshots need a damaged blob; read
 * by that device's next backup, which stores them again and says so beside the record;
 * read by every device's status, which says the damage until then. A device's damage is
 * what all its records say (each verifier's, and the one record older buckys write), each
 * read with what the device stored again since taken off it (outstanding).
 */
import {
  DAMAGE_RECORD_PREFIX,
  type DamageRecord,
  damageFindingKey,
  damageFindingPattern,
  damageRecordKey,
  decodeDamageRecord,
  decodeHandledDamage,
  encodeDamageRecord,
  encodeHandledDamage,
  type HandledDamage,
  handledDamageKey,
  MAX_DAMAGED_BLOBS_RECORDED,
} from "../../protocol/backup/damage-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type StateReader, stateRowsMatching, stateRowsUnder, stateValue } from "../store/reads.ts";
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
  const found = new Map<string, DamageRecord[]>();
  for (const { key, value } of [
    ...stateRowsUnder(db, DAMAGE_RECORD_PREFIX),
    ...findingRows(db, damageFindingPattern()),
  ]) {
    const record = decoded(key, value);
    const addedAt = record && targets.get(record.target);
    if (!record || addedAt === undefined || Date.parse(record.foundAt) < addedAt) continue;
    const of = `${record.target}/${record.device}`;
    found.set(of, [...(found.get(of) ?? []), record]);
  }
  return [...found.values()].flatMap((records) => {
    const { target, device } = records[0] as DamageRecord;
    const left = outstanding(records, readHandled(db, target, device));
    return left ? [left] : [];
  });
}

/** `device`'s damage in `target`, less what it stored again since, if any is left. */
export function readDamageRecord(
  db: StateReader,
  target: string,
  device: string,
): DamageRecord | undefined {
  return outstanding(foundRecords(db, target, device), readHandled(db, target, device));
}

/** The records of `device`'s damage in `target` as the verifies wrote them: the one, and each verifier's. */
function foundRecords(db: StateReader, target: string, device: string): DamageRecord[] {
  const key = damageRecordKey(target, device);
  const one = stateValue(db, key);
  return [
    ...(one ? [{ key, value: one }] : []),
    ...findingRows(db, damageFindingPattern(target, device)),
  ].flatMap((row) => {
    const record = decoded(row.key, row.value);
    return record ? [record] : [];
  });
}

/** The verifiers' findings whose keys match `pattern` (a GLOB's `*` spans a `/` too: each is decoded against its key). */
function findingRows(db: StateReader, pattern: string): { key: string; value: string }[] {
  return stateRowsMatching(db, pattern).flatMap(({ key, value }) =>
    value === null ? [] : [{ key, value }],
  );
}

/** What `device`'s backups stored again of its damage in `target`, as it said. */
function readHandled(db: StateReader, target: string, device: string): HandledDamage | undefined {
  const key = handledDamageKey(target, device);
  const value = stateValue(db, key);
  if (value === undefined || value === null) return undefined;
  try {
    return decodeHandledDamage(key, JSON.parse(value));
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/**
 * What `records` say together, each less the blobs `handled` says were stored again after
 * it last said it found damage (a blob found again since counts again): found by the verify
 * that found last, when; undefined when none is left.
 */
function outstanding(
  records: readonly DamageRecord[],
  handled: HandledDamage | undefined,
): DamageRecord | undefined {
  const done = new Set(handled?.blobs ?? []);
  const blobs = new Set<string>();
  let latest: DamageRecord | undefined;
  for (const record of records) {
    const since =
      handled !== undefined && Date.parse(handled.handledAt) >= Date.parse(record.foundAt);
    const left = since ? record.blobs.filter((id) => !done.has(id)) : record.blobs;
    if (left.length === 0) continue;
    for (const id of left) blobs.add(id);
    if (!latest || Date.parse(record.foundAt) > Date.parse(latest.foundAt)) latest = record;
  }
  return latest && { ...latest, blobs: [...blobs] };
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
    const records = foundRecords(db, target, device);
    const handled = readHandled(db, target, device);
    const held = outstanding(records, handled)?.blobs ?? [];
    // What the records say together stays within what one holds (and what the device
    // says it stored again, with it): past it, the rest wait for a verify after the next
    // backup, which finds them again. Only two verifies at once go past it.
    const known = new Set(held);
    const added = [...new Set(ids)]
      .filter((id) => !known.has(id))
      .slice(0, Math.max(0, MAX_DAMAGED_BLOBS_RECORDED - held.length));
    if (added.length === 0) continue; // nothing new: the records say it already
    const blobs = [...held, ...added];
    // This verifier's own, which no other's write undoes.
    const ownBefore = records.filter((record) => record.foundBy === foundBy);
    const own = [...new Set([...(outstanding(ownBefore, handled)?.blobs ?? []), ...added])];
    ops.push(
      {
        key: damageFindingKey(target, device, foundBy),
        value: encodeDamageRecord({ target, device, blobs: own, foundBy, foundAt }),
      },
      // And the one record, all it knows of, for buckys that read no other.
      {
        key: damageRecordKey(target, device),
        value: encodeDamageRecord({ target, device, blobs, foundBy, foundAt }),
      },
    );
  }
  return ops;
}

/**
 * The op by which `device` says it stored `handled` again (its backup stored again those it
 * still holds; the others it cannot) of its record in `target`, at `handledAt`: under a
 * key of its own, beside the record, which it leaves as the verifies wrote it. Taken off
 * the record itself, a verify elsewhere that added to the record meanwhile was undone
 * by this write, or this one by it, whichever came last.
 */
export function handledDamageOps(
  db: StateReader,
  target: string,
  device: string,
  handled: readonly string[],
  handledAt: string,
): Op[] {
  const records = foundRecords(db, target, device);
  if (records.length === 0) return [];
  const before = readHandled(db, target, device);
  // What it stored again before stays said, of what the records still name, but for blobs
  // a verify found again since.
  const foundSince = new Set(
    records
      .filter((r) => before && Date.parse(r.foundAt) > Date.parse(before.handledAt))
      .flatMap((r) => r.blobs),
  );
  const recorded = new Set(records.flatMap((r) => r.blobs));
  const already = (before?.blobs ?? []).filter((id) => recorded.has(id) && !foundSince.has(id));
  const blobs = [...new Set([...already, ...handled.filter((id) => recorded.has(id))])].slice(
    0,
    MAX_DAMAGED_BLOBS_RECORDED,
  );
  if (blobs.length === already.length) return [];
  return [
    {
      key: handledDamageKey(target, device),
      value: encodeHandledDamage({ target, device, blobs, handledAt }),
    },
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
