/**
 * Draining a device (`bucky devices drain`): the zone stops giving it apps and copies of
 * app data, moves what it holds to other devices (stop, last snapshot, start there), and
 * says when nothing is left only on it, so it can be revoked or switched off: no app, no
 * copy of app data, and nothing else the zone still needs of it (still-on.ts: conflict
 * copies, backup targets reached through it, keys, the only gateway or relay). A device
 * being drained is a fact in the zone state, `system/drain/<device>`; every device acts
 * on it for its own part.
 */

import { readSpecs } from "../apps/spec.ts";
import { type AppStatus, appStatuses, type ZoneView } from "../apps/status.ts";
import { BuckyError } from "../errors.ts";
import { readZoneFacts } from "../facts/zone-facts.ts";
import { refuseOutcast, standingOf } from "../sync/membership.ts";
import { STANDBY_LAG_LIMIT_MS } from "../zone/reliability.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { anythingStillOn, type StillOn, stillOn } from "./still-on.ts";
import { appHasData, drainKey, readDraining } from "./zone-holding.ts";

export interface DrainProgress extends StillOn {
  readonly device: string;
  readonly draining: boolean;
  /** Apps whose data it still holds. */
  readonly holds: readonly string[];
  /** Apps still running on it. */
  readonly runs: readonly string[];
  /** Apps pinned to it, which cannot move unless moved by hand. */
  readonly pinned: readonly string[];
  /** Apps whose data no other device has caught up with yet. */
  readonly catchingUp: readonly string[];
  /** Nothing of the zone is only on it any more (apps, their data, nor anything of StillOn). */
  readonly done: boolean;
}

export function startDrain(zone: ZoneWriter, device: string, draining: boolean): void {
  refuseOutcast(zone.membership(), device, `drain ${device}`);
  const member = zone.membership().byName.get(device);
  if (!member || standingOf(zone.membership(), member.id) !== "member")
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone has no device named ${device}`,
      "See the devices with `bucky devices`.",
    );
  const already = readDraining(zone.db).has(device);
  if (already === draining) return;
  zone.write([
    {
      key: drainKey(device),
      value: draining ? JSON.stringify({ since: new Date(zone.now()).toISOString() }) : null,
    },
  ]);
  zone.log.info(draining ? "device draining" : "device drain cancelled", { device });
}

export function drainProgress(zone: ZoneView, device: string, liveWindowMs: number): DrainProgress {
  const statuses = appStatuses(zone, liveWindowMs);
  const specs = readSpecs(zone.db).filter((spec) => spec.desired !== "removed");
  const pinned = specs.filter((spec) => spec.placement === device).map((spec) => spec.app);
  const holds = statuses.filter((s) => s.data?.holder?.device === device).map((s) => s.app);
  const runs = statuses
    .filter((s) => s.device === device && s.state !== "stopped")
    .map((s) => s.app);
  const catchingUp = statuses
    .filter((s) => s.data?.holder && s.data.holder.device !== device)
    .filter((s) => !caughtUpElsewhere(s, device))
    .map((s) => s.app);
  const drained = readDraining(zone.db);
  const draining = drained.has(device);
  const membership = zone.membership();
  const devices = readZoneFacts(zone.db, membership, zone.now(), liveWindowMs);
  const still = stillOn(zone.db, membership, devices, device, drained);
  return {
    device,
    draining,
    holds,
    runs,
    pinned,
    catchingUp,
    ...still,
    done:
      draining &&
      !anythingStillOn(still) &&
      holds.length === 0 &&
      runs.length === 0 &&
      pinned.length === 0 &&
      catchingUp.length === 0 &&
      specs.every((spec) => !appHasData(spec) || spec.placement !== device),
  };
}

/**
 * Whether an app's data has a copy besides the drained device's, where the zone has a
 * device for one: a standby that is not the drained device and is current, as status
 * counts it (within STANDBY_LAG_LIMIT_MS; an app that writes all the time keeps every
 * standby a little behind, and would hold every drain up).
 */
export function caughtUpElsewhere(status: Pick<AppStatus, "data">, device: string): boolean {
  const standbys = status.data?.standbys ?? [];
  if (standbys.length === 0) return true;
  return standbys.some(
    (standby) =>
      standby.device !== device && standby.lagMs !== null && standby.lagMs <= STANDBY_LAG_LIMIT_MS,
  );
}
