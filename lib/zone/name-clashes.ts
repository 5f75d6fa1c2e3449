/**
 * Two devices admitted under one name at once: two devices holding the owner key, apart
 * (a partition, or one offline), each admitted a device as `laptop`. Each wrote the
 * name's document (`devices/laptop/doc`); once they meet, last-writer-wins keeps one on
 * every device, the same one everywhere, and the other device is no member: its requests
 * and changes are refused. Before, nothing said so: the zone listed one laptop, and the
 * other went on believing it had joined.
 *
 * Each admission also records the document it signed under its admitter's own keys
 * (`nodes/<admitter>/admitted/<id>`, in the same changeset), so every device, whichever
 * admitter is gone since, finds the one that lost: a record of a device that is not a
 * member under a name held by another (a name is never given again, even once revoked).
 */
import { type DeviceDocument, verifyDeviceDocument } from "../../protocol/documents.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import type { Membership } from "../sync/membership.ts";

export interface NameClash {
  /** The name both were admitted under. */
  readonly name: string;
  /** The device that lost it: no member of the zone. */
  readonly id: DeviceId;
  /** The device the zone keeps under the name. */
  readonly keptId: DeviceId;
  /** Which device admitted the one that lost it, and when (RFC 3339). */
  readonly admittedBy: string;
  readonly admittedAt: string;
}

/** The devices that lost their name to another admitted under it at the same time. */
export function readNameClashes(
  db: StateReader,
  zone: ZoneId,
  membership: Membership,
): NameClash[] {
  const rows = sqliteOf(db)
    .query<{ key: string; value: string }, []>(
      // The range lets the key's index answer; the pattern picks the records in it.
      "SELECT key, value FROM state WHERE key >= 'nodes/' AND key < 'nodes0' AND key GLOB 'nodes/*/admitted/*' AND value IS NOT NULL",
    )
    .all();
  const clashes: NameClash[] = [];
  for (const { key, value } of rows) {
    const [, admitter, , id] = key.split("/") as [string, string, string, string];
    const doc = admissionDocument(value, zone);
    if (!doc || doc.id !== id || membership.byId.has(doc.id)) continue;
    const kept = membership.byName.get(doc.name);
    if (!kept) continue;
    clashes.push({
      name: doc.name,
      id: doc.id,
      keptId: kept.id,
      admittedBy: admitter,
      admittedAt: new Date(doc.issuedAt * 1000).toISOString(),
    });
  }
  return clashes.sort((a, b) => compareCodeUnits(a.name, b.name) || compareCodeUnits(a.id, b.id));
}

/** An admission record's document, if it is one the owner signed for this zone. */
function admissionDocument(value: string, zone: ZoneId): DeviceDocument | undefined {
  try {
    const jws: unknown = JSON.parse(value);
    return typeof jws === "string" ? verifyDeviceDocument(jws, zone) : undefined;
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** The clash `device` lost, if it is one that did (for the refusal it is given). */
export function clashLostBy(
  db: StateReader,
  zone: ZoneId,
  membership: Membership,
  device: DeviceId,
): NameClash | undefined {
  return readNameClashes(db, zone, membership).find((clash) => clash.id === device);
}

/** What the device that lost its name is told, on every request it makes of the zone. */
export function nameLostError(clash: NameClash): BuckyError {
  return new BuckyError(
    "E_PERMISSION",
    `you are no member of this zone: another device was admitted as ${clash.name} at the same time as you (by ${clash.admittedBy}, while the devices were apart), and the zone keeps that one`,
    "Join again from a fresh home, with a new invitation and another name (`bucky join <token> --device <name>`).",
  );
}

/** What `bucky status` and `bucky devices` say of a clash, in English. */
export function nameClashWarning(clash: NameClash): string {
  return `two devices were admitted as ${clash.name} at the same time, while the devices admitting them were apart: the zone keeps ${clash.keptId}; the one ${clash.admittedBy} admitted at ${clash.admittedAt} (${clash.id}) is no member, and is told so when it calls: join it again from a fresh home with another name (do not revoke ${clash.name}: that is the one kept)`;
}
