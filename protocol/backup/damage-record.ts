/**
 * Damage a verify found in a target's repository, in the blobs one device's snapshots need,
 * at `system/backup/damage/<target>/<device>`: for that device to store them again at its
 * next backup (a backup takes a blob the index places as stored without reading it), and
 * for every device's status to say so until it has. Any device may verify, and only the
 * device whose data the blobs are can store them again: this record is how the one tells
 * the other, and outlives the device that verified. The device named clears it once its
 * backup stored again what it still holds.
 *
 *   JSON { v: 1, target, device, blobs: [hex id…], foundBy, foundAt }
 *
 * Each verifying device also keeps what it found under a key of its own, which only it
 * writes, `nodes/<foundBy>/backup/found/<target>/<device>`, in the same form: two verifies
 * on two devices at once each wrote the one record from what it had read, and the zone
 * kept only the later, the other's finding lost until a verify found it again. Readers
 * take every record of a device together; the one record is still written, for buckys
 * before these.
 *
 * What the device's backup stored again it says beside it, at `nodes/<device>/backup/
 * handled/<target>` (a key of its own, which only it writes): a record taken off by the
 * device while a verify elsewhere added to it lost what that verify found, whichever write
 * came last. A blob counts as damaged until the device stored it again after the record
 * last said it was found.
 *
 *   JSON { v: 1, target, device, blobs: [hex id…], handledAt }
 */
import { check } from "../errors.ts";
import { checkDeviceName } from "../names.ts";
import { isRecord, requireOnlyFields, requireString } from "../shape.ts";
import { TARGET_NAME } from "./zone-target.ts";

export const DAMAGE_RECORD_VERSION = 1;
export const DAMAGE_RECORD_PREFIX = "system/backup/damage/";
/**
 * The most blob ids one record holds (about 54 KB, under a state value's bound): past it,
 * the rest wait for a verify after the next backup, which finds them again.
 */
export const MAX_DAMAGED_BLOBS_RECORDED = 800;
const BLOB_ID = /^[0-9a-f]{64}$/;
const MAX_TIME_LENGTH = 40;

export interface DamageRecord {
  readonly target: string;
  /** The device whose snapshots need the blobs: the one that can store them again. */
  readonly device: string;
  readonly blobs: readonly string[];
  /** The device whose verify found them (the last to add some). */
  readonly foundBy: string;
  /** RFC 3339. */
  readonly foundAt: string;
}

export function damageRecordKey(target: string, device: string): string {
  return `${DAMAGE_RECORD_PREFIX}${target}/${device}`;
}

/** The key of what `foundBy`'s verifies found in `device`'s blobs in `target`: `foundBy`'s own. */
export function damageFindingKey(target: string, device: string, foundBy: string): string {
  return `nodes/${foundBy}/backup/found/${target}/${device}`;
}

/** The GLOB pattern of every verifier's finding keys (of `target` and `device`: `*` for any). */
export function damageFindingPattern(target = "*", device = "*"): string {
  return `nodes/*/backup/found/${target}/${device}`;
}

export function encodeDamageRecord(record: DamageRecord): string {
  return JSON.stringify({
    v: DAMAGE_RECORD_VERSION,
    target: record.target,
    device: record.device,
    blobs: record.blobs,
    foundBy: record.foundBy,
    foundAt: record.foundAt,
  });
}

/** Parses the record at `key` (its JSON value). Throws ProtocolError when it is not one. */
export function decodeDamageRecord(key: string, value: unknown): DamageRecord {
  check(isRecord(value), `${key} is not a backup damage record`);
  requireOnlyFields(value, ["v", "target", "device", "blobs", "foundBy", "foundAt"], key);
  check(value.v === DAMAGE_RECORD_VERSION, `${key} is version ${String(value.v)}, not 1`);
  const target = requireString(value.target, `${key} target`, 32);
  check(TARGET_NAME.test(target), `${key} has an invalid target name`);
  const device = checkDeviceName(requireString(value.device, `${key} device`, 64));
  check(device.ok, `${key} device is not a device name`);
  const foundBy = checkDeviceName(requireString(value.foundBy, `${key} foundBy`, 64));
  check(foundBy.ok, `${key} foundBy is not a device name`);
  check(
    key === damageRecordKey(target, device.name) ||
      key === damageFindingKey(target, device.name, foundBy.name),
    `${key} holds the damage of another`,
  );
  const foundAt = requireString(value.foundAt, `${key} foundAt`, MAX_TIME_LENGTH);
  check(!Number.isNaN(Date.parse(foundAt)), `${key} foundAt is not a time`);
  const blobs = blobIds(key, value.blobs);
  check(blobs.length > 0, `${key} names no blob`);
  return { target, device: device.name, blobs, foundBy: foundBy.name, foundAt };
}

/** What a device's backup stored again of the damage recorded in a target. */
export interface HandledDamage {
  readonly target: string;
  readonly device: string;
  readonly blobs: readonly string[];
  /** RFC 3339: blobs found damaged again after it count again. */
  readonly handledAt: string;
}

export function handledDamageKey(target: string, device: string): string {
  return `nodes/${device}/backup/handled/${target}`;
}

export function encodeHandledDamage(handled: HandledDamage): string {
  return JSON.stringify({
    v: DAMAGE_RECORD_VERSION,
    target: handled.target,
    device: handled.device,
    blobs: handled.blobs,
    handledAt: handled.handledAt,
  });
}

/** Parses what a device stored again, at `key`. Throws ProtocolError when it is not that. */
export function decodeHandledDamage(key: string, value: unknown): HandledDamage {
  check(isRecord(value), `${key} is not what a backup stored again`);
  requireOnlyFields(value, ["v", "target", "device", "blobs", "handledAt"], key);
  check(value.v === DAMAGE_RECORD_VERSION, `${key} is version ${String(value.v)}, not 1`);
  const target = requireString(value.target, `${key} target`, 32);
  check(TARGET_NAME.test(target), `${key} has an invalid target name`);
  const device = checkDeviceName(requireString(value.device, `${key} device`, 64));
  check(device.ok, `${key} device is not a device name`);
  check(key === handledDamageKey(target, device.name), `${key} holds what another stored`);
  const handledAt = requireString(value.handledAt, `${key} handledAt`, MAX_TIME_LENGTH);
  check(!Number.isNaN(Date.parse(handledAt)), `${key} handledAt is not a time`);
  return { target, device: device.name, blobs: blobIds(key, value.blobs), handledAt };
}

function blobIds(key: string, value: unknown): string[] {
  check(Array.isArray(value), `${key} blobs is not a list`);
  check(value.length <= MAX_DAMAGED_BLOBS_RECORDED, `${key} names too many blobs`);
  return value.map((id, i) => {
    check(typeof id === "string" && BLOB_ID.test(id), `${key} blobs[${i}] is not a blob id`);
    return id;
  });
}
