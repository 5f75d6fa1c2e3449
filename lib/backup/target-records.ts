/**
 * Changing the zone's backup targets: recording one in the zone state (through the
 * daemon when it runs, so it is passed on at once, else straight into the home's
 * database), removing one for the whole zone, and keeping this device's own file of
 * connections in line with the zone's records, in its daemon.
 */
import { eq } from "drizzle-orm";
import {
  encodeZoneTarget,
  type ZoneTarget,
  zoneTargetKey,
} from "../../protocol/backup/zone-target.ts";
import type { Op } from "../../protocol/changeset.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { isDaemonDown, requestDaemon } from "../node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../node/held-wait.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { openZone } from "../zone/open.ts";
import {
  forgetTargetStatus,
  readBackupStatus,
  renameTargetStatus,
  sinceAdded,
  updateTargetStatus,
} from "./status.ts";
import { forgetTarget, readTargets, saveTarget, type Target } from "./targets.ts";
import {
  adoptedName,
  type ResolvedTarget,
  readZoneTargets,
  resolveTargets,
  unknownTarget,
} from "./zone-targets.ts";

/** The op that records `target` in the zone state. */
export function recordOp(target: ZoneTarget): Op {
  return { key: zoneTargetKey(target.name), value: encodeZoneTarget(target) };
}

/** The op that removes the target `name` from the zone state. */
export function removalOp(name: string): Op {
  return { key: zoneTargetKey(name), value: null };
}

/**
 * Writes `ops` to the zone state as this device: through its daemon when it runs (which
 * passes them on at once, and waits for another device to hold them unless `asked` says
 * not to), else straight into the home's database (the daemon passes them on when it
 * starts).
 */
export async function writeZoneState(
  paths: HomePaths,
  ops: readonly Op[],
  log: Log,
  now: () => number,
  asked: { wait: boolean } = { wait: true },
): Promise<void> {
  try {
    for (const op of ops) {
      const path = pathAsked(`/v1/state/${op.key}`, asked);
      if (op.value === null) await requestDaemon(paths.home, "DELETE", path);
      else await requestDaemon(paths.home, "PUT", path, { value: JSON.parse(op.value) });
    }
    return;
  } catch (error) {
    if (!isDaemonDown(error)) throw error;
  }
  const zone = openZone(paths.home, log);
  try {
    appendLocalChangeset(
      zone.db,
      { zone: zone.zone.id, name: zone.device.name, key: zone.deviceKey, seal: zone.seal },
      ops,
      now(),
    );
  } finally {
    zone.close();
  }
}

/**
 * Brings this device's own file in line with the zone, in its daemon: a target added
 * before the zone recorded targets is recorded now (with this device as its via); the
 * connection of a target the zone no longer has (removed from another device) is
 * forgotten, and so is what this device recorded of its backups there.
 */
export function reconcileLocalTargets(
  paths: HomePaths,
  db: StateQueries,
  self: string,
  write: (ops: readonly Op[]) => void,
  now: () => number,
  log: Log,
): void {
  let local: Target[];
  try {
    local = readTargets(paths);
  } catch (error) {
    if (error instanceof BuckyError) return; // said by targetsForDaemon
    throw error;
  }
  const zone = readZoneTargets(db);
  for (const target of local) {
    const recorded = zone.find((t) => t.name === target.name);
    if (!target.shared && recorded?.via === self && recorded.url === target.url) {
      saveTarget(paths, { ...target, shared: true }); // recorded already, by this device
    } else if (!target.shared || (target.adopted && recorded && recorded.via !== self)) {
      // Recorded under its own name, or, when the zone has another target of that name
      // (two devices each had their "usb", and maybe recorded it at the same moment),
      // under a name of this device's.
      const name = recorded ? adoptedName(target.name, self) : target.name;
      if (zone.some((t) => t.name === name)) continue;
      write([
        recordOp({
          name,
          url: target.url,
          via: self as DeviceName,
          ...(target.hostKey ? { hostKey: target.hostKey } : {}),
          addedAt: new Date(now()).toISOString(),
        }),
      ]);
      if (name !== target.name) {
        forgetTarget(paths, target.name);
        renameTargetStatus(paths, target.name, name);
      }
      saveTarget(paths, { ...target, name, shared: true, adopted: true });
      log.info("backup target recorded for the zone", {
        target: name,
        ...(name !== target.name ? { was: target.name } : {}),
      });
    } else if (
      target.shared &&
      (recorded ? recorded.via !== self || recorded.url !== target.url : removed(db, target.name))
    ) {
      // Removed from the zone (a record not there yet is no removal: it is being added),
      // or added again elsewhere under its name.
      forgetTarget(paths, target.name);
      if (!recorded) forgetTargetStatus(paths, target.name);
      log.info("backup target forgotten: the zone no longer has it here", { target: target.name });
    }
  }
  // What this device recorded of its backups to targets it reaches through another device:
  // forgotten once the zone removed the target, and what is of an earlier target of the
  // name left out once it is added again (so the schedule backs up to the new one now).
  for (const [name, status] of Object.entries(readBackupStatus(paths))) {
    const recorded = zone.find((t) => t.name === name);
    if (local.some((t) => t.name === name) || recorded?.via === self) continue;
    if (!recorded) {
      if (removed(db, name)) forgetTargetStatus(paths, name);
      continue;
    }
    const current = sinceAdded(status, Date.parse(recorded.addedAt));
    if (JSON.stringify(current) !== JSON.stringify(status))
      updateTargetStatus(paths, name, (s) => sinceAdded(s, Date.parse(recorded.addedAt)));
  }
}

/**
 * Removes a target from the zone, from any device: no device backs up to it any more
 * (the via device forgets its connection when it hears). What is there stays.
 */
export async function removeZoneTarget(
  paths: HomePaths,
  name: string,
  log: Log,
  now: () => number,
): Promise<ResolvedTarget> {
  const zone = openZone(paths.home, log);
  let recorded: boolean;
  let target: ResolvedTarget | undefined;
  let targets: ResolvedTarget[];
  try {
    targets = resolveTargets(paths, zone.db, zone.device.name);
    target = targets.find((t) => t.name === name);
    recorded = readZoneTargets(zone.db).some((t) => t.name === name);
  } finally {
    zone.close();
  }
  if (!target) throw unknownTarget(name, targets);
  if (recorded) await writeZoneState(paths, [removalOp(name)], log, now);
  if (target.route.kind === "direct") forgetTarget(paths, name);
  forgetTargetStatus(paths, name);
  log.info("backup target removed", { target: name, url: target.url });
  return target;
}

/** What `bucky backup target rm` answers (the daemon's DELETE /v1/backups/targets/<name>). */
export interface TargetRemoval extends HeldAnswer {
  readonly removed: string;
  readonly url: string;
}

/**
 * Removes the target `name` from the zone as `bucky backup target rm` asks: through the
 * daemon when it runs, which answers once another device holds the removal (lost with this
 * device, every other would go on backing up there); else straight into the home's
 * database, where it waits for the daemon to start and pass it on. Asked not to wait
 * (`wait: false`), the daemon answers as soon as it is written.
 */
export async function removeTargetForZone(
  paths: HomePaths,
  name: string,
  log: Log,
  now: () => number,
  asked: { wait: boolean },
): Promise<TargetRemoval> {
  try {
    return await requestDaemon<TargetRemoval>(
      paths.home,
      "DELETE",
      pathAsked(`/v1/backups/targets/${encodeURIComponent(name)}`, asked),
    );
  } catch (error) {
    if (!isDaemonDown(error)) throw error;
  }
  const target = await removeZoneTarget(paths, name, log, now);
  const zone = openZone(paths.home, log);
  const alone = zone.devices.length <= 1;
  zone.close();
  return {
    removed: target.name,
    url: target.url,
    heldElsewhere: alone ? "alone" : "not yet",
    ...(asked.wait ? {} : { waited: false as const }),
  };
}

/** Whether the zone state holds the removal of the target `name` (its tombstone). */
function removed(db: StateQueries, name: string): boolean {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, zoneTargetKey(name)))
    .get();
  return row !== undefined && row.value === null;
}
