/**
 * What of the zone a device still does, or keeps, that no other device does: what
 * `bucky devices drain` must see gone before it says the device can be revoked. Read from
 * what every device sees alike (the zone state and the device facts), so any device gives
 * the same answer:
 *
 *   - conflict copies of app data kept on it alone (`<home>/apps/<app>/conflicts/`);
 *   - backup targets it is the via of (the others reach them through it);
 *   - the owner key, or the backup key, no other device holds;
 *   - the zone's only gateway, or its only relay (devices behind NAT are reached through one).
 *
 * Other devices being drained count as gone already: two devices drained together must
 * not each count on the other.
 */
import { readZoneTargets } from "../backup/zone-targets.ts";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { isRelayOnly, readGateway } from "../gateway/config.ts";
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

export interface StillOn {
  /** Conflict copies kept only on it: restore them, or delete them on purpose. */
  readonly conflicts: readonly OnlyCopy[];
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
