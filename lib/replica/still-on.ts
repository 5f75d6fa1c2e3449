/**
 * What of the zone a device still does, or keeps, that no other device does: what
 * `bucky devices drain` must see gone before it says the device can be revoked. Read from
 * what every device sees alike (the zone state and the device facts), so any device gives
 * the same answer:
 *
 *   - conflict copies of app data kept on it alone (`<home>/apps/<app>/conflicts/`);
 *   - stored files (`bucky put`, and apps' named data) no other device holds whole: those
 *     within the zone's budget the others are still copying, those past it none will;
 *   - backup targets it is the via of (the others reach them through it);
 *   - the owner key, or the backup key, no other device holds;
 *   - the zone's only gateway, or its only relay (devices behind NAT are reached through one).
 *
 * Other devices being drained count as gone already: two devices drained together must
 * not each count on the other.
 */

import type { ObjectId } from "../../protocol/ndn.ts";
import { readZoneTargets } from "../backup/zone-targets.ts";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { isRelayOnly, readGateway } from "../gateway/config.ts";
import { fileHolders, storedFilesBudget } from "../ndn/stored-files.ts";
import { readRelays } from "../relay/relays.ts";
import type { StateQueries } from "../store/db.ts";
import type { Membership } from "../sync/membership.ts";

/** A conflict copy kept on the device and on no other. */
export interface OnlyCopy {
  readonly app: string;
  readonly name: string;
  readonly at: string;
  readonly bytes: number;
}

/** Conflict copies of an app the device keeps past those its facts list (the newest). */
export interface CopiesNotListed {
  readonly app: string;
  readonly count: number;
}

/** A stored file no other device holds whole. */
export interface OnlyFile {
  readonly id: ObjectId;
  /** Its name where it was stored ("" for an app's). */
  readonly name: string;
  /** The apps that stored it through their API (none: the owner's alone). */
  readonly apps: readonly string[];
  readonly bytes: number | null;
  /** Within the zone's budget for stored files: the others copy it by themselves. */
  readonly withinBudget: boolean;
}

export interface StillOn {
  /** Conflict copies kept only on it: restore them, or delete them on purpose. */
  readonly conflicts: readonly OnlyCopy[];
  /**
   * Older conflict copies it keeps that its facts do not list (they list each app's newest):
   * each is on it alone too. They are listed as the newer ones go.
   */
  readonly conflictsNotListed: readonly CopiesNotListed[];
  /** Stored files it alone holds whole: those within the budget first, each in the order stored. */
  readonly files: readonly OnlyFile[];
  /** Backup targets it is the via of. */
  readonly backupVia: readonly string[];
  /** No other device holds the owner key (by what each device said). */
  readonly onlyOwnerKey: boolean;
  /** No other device holds the backup key (by what each device said). */
  readonly onlyBackupKey: boolean;
  /** It is the zone's only gateway. */
  readonly onlyGateway: boolean;
  /** It is the only relay the zone's devices can use (of the zone, or outside it). */
  readonly onlyRelay: boolean;
}

export function stillOn(
  db: StateQueries,
  membership: Membership,
  devices: readonly DeviceStanding[],
  device: string,
  draining: ReadonlySet<string>,
): StillOn {
  const it = devices.find((d) => d.name === device);
  const others = devices.filter(
    (d) => d.name !== device && d.standing === "member" && !draining.has(d.name),
  );
  const itSaid: DeviceFactsPayload = it?.facts ?? {};
  // What the device drained does not say (an older bucky's facts) it may hold; what the
  // others do not say they hold, they are not counted on for: either way drain errs
  // towards waiting, never towards a key gone with the device.
  const onlyIt = (holds: (facts: DeviceFactsPayload) => boolean | undefined) =>
    holds(itSaid) !== false && !others.some((other) => holds(other.facts) === true);
  const relays = readRelays(db, membership);
  const isRelay = (name: string) => readGateway(db, name) !== undefined || isRelayOnly(db, name);
  return {
    conflicts: onlyCopies(itSaid, others),
    conflictsNotListed: copiesNotListed(itSaid),
    files: onlyFiles(db, device, new Set(others.map((other) => other.name))),
    backupVia: readZoneTargets(db)
      .filter((target) => target.via === device)
      .map((target) => target.name),
    onlyOwnerKey: onlyIt((facts) => facts.ownerKey),
    onlyBackupKey: onlyIt((facts) => facts.backup?.key),
    onlyGateway:
      readGateway(db, device) !== undefined &&
      !others.some((other) => readGateway(db, other.name) !== undefined),
    onlyRelay:
      isRelay(device) &&
      relays.every(
        (relay) =>
          relay.name === device ||
          (membership.byId.has(relay.id) && !others.some((o) => o.id === relay.id)),
      ),
  };
}

/** Whether anything is still on it. */
export function anythingStillOn(still: StillOn): boolean {
  return (
    still.conflicts.length > 0 ||
    still.conflictsNotListed.length > 0 ||
    still.files.length > 0 ||
    still.backupVia.length > 0 ||
    still.onlyOwnerKey ||
    still.onlyBackupKey ||
    still.onlyGateway ||
    still.onlyRelay
  );
}

/** Its conflict copies that no other device keeps (by name, for the same app). */
function onlyCopies(itSaid: DeviceFactsPayload, others: readonly DeviceStanding[]): OnlyCopy[] {
  const kept = itSaid.replicas?.conflicts ?? {};
  const elsewhere = (app: string, name: string) =>
    others.some((other) =>
      (other.facts.replicas?.conflicts[app] ?? []).some((copy) => copy.name === name),
    );
  return Object.entries(kept).flatMap(([app, copies]) =>
    copies
      .filter((copy) => !elsewhere(app, copy.name))
      .map((copy) => ({ app, name: copy.name, at: copy.at, bytes: copy.bytes })),
  );
}

/** The conflict copies it says it keeps of each app, past those it lists. */
function copiesNotListed(itSaid: DeviceFactsPayload): CopiesNotListed[] {
  const replicas = itSaid.replicas;
  return Object.entries(replicas?.conflictsKept ?? {}).flatMap(([app, kept]) => {
    const count = kept - (replicas?.conflicts[app]?.length ?? 0);
    return count > 0 ? [{ app, count }] : [];
  });
}

/**
 * The stored files `device` says it holds whole and none of `others` does. Their records
 * are read as the budget orders them, so each says whether the others will copy it.
 */
function onlyFiles(db: StateQueries, device: string, others: ReadonlySet<string>): OnlyFile[] {
  const holders = fileHolders(db);
  const onlyThere = (id: ObjectId) => {
    const held = holders.get(id);
    return held?.has(device) === true && ![...held].some((holder) => others.has(holder));
  };
  const { within, past } = storedFilesBudget(db);
  const files = new Map<ObjectId, OnlyFile>();
  // Within first: a file one record keeps within the budget is copied, whatever another says.
  for (const [records, withinBudget] of [
    [within, true],
    [past, false],
  ] as const)
    for (const record of records) {
      if (!onlyThere(record.id)) continue;
      const known = files.get(record.id);
      files.set(record.id, {
        id: record.id,
        name: known?.name || record.name,
        apps: record.app === null ? (known?.apps ?? []) : [...(known?.apps ?? []), record.app],
        bytes: known?.bytes ?? record.sizeBytes,
        withinBudget: known?.withinBudget ?? withinBudget,
      });
    }
  return [...files.values()];
}
