/**
 * The zone's backup targets: each recorded in the zone state (protocol/backup/zone-target.ts)
 * by the device that added it, its "via", so every device sees every target. A device
 * reaches a target directly when it is the via (with the SSH key kept in its own
 * `<home>/backup/targets.json`), and through the via device otherwise.
 *
 * Targets added before the zone recorded them are only in a device's own file; they count
 * as that device's, reached directly, until its daemon records them (target-records.ts).
 */
import { resolve } from "node:path";
import {
  decodeZoneTarget,
  ZONE_TARGET_PREFIX,
  type ZoneTarget,
} from "../../protocol/backup/zone-target.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import type { StateQueries } from "../store/db.ts";
import { type StateReader, stateRowsUnder } from "../store/reads.ts";
import { openCheckedZone } from "../zone/checked-zone.ts";
import { readBackupStatus, type TargetStatus } from "./status.ts";
import { newTarget, readTargets, type Target } from "./targets.ts";

/** A target as this device sees it: where it is, and how this device gets there. */
export interface ResolvedTarget {
  readonly name: string;
  readonly url: string;
  /** The device that reaches it; null for a directory or URL named on the command line. */
  readonly via: string | null;
  readonly route:
    | { readonly kind: "direct"; readonly connection: Target }
    | { readonly kind: "through"; readonly via: string };
}

/** The targets recorded in the zone state (a malformed record is left out). */
export function readZoneTargets(db: StateReader): ZoneTarget[] {
  const rows = stateRowsUnder(db, ZONE_TARGET_PREFIX);
  const targets: ZoneTarget[] = [];
  for (const { key, value } of rows) {
    try {
      targets.push(decodeZoneTarget(key, JSON.parse(value)));
    } catch (error) {
      if (!(error instanceof ProtocolError || error instanceof SyntaxError)) throw error;
    }
  }
  return targets;
}

/** Every target of the zone, and how device `self` reaches each, by name. */
export function resolveTargets(paths: HomePaths, db: StateReader, self: string): ResolvedTarget[] {
  const local = readTargets(paths);
  const zone = readZoneTargets(db);
  const resolved = zone.map((target): ResolvedTarget => {
    if (target.via !== self)
      return {
        name: target.name,
        url: target.url,
        via: target.via,
        route: { kind: "through", via: target.via },
      };
    // Its key is in this device's file; a directory needs none (a home restored on a new
    // box has the zone's record but not the file).
    const own = local.find((t) => t.name === target.name && t.url === target.url);
    const connection: Target = own ?? {
      name: target.name,
      url: target.url,
      ...(target.hostKey ? { hostKey: target.hostKey } : {}),
    };
    return { name: target.name, url: target.url, via: self, route: { kind: "direct", connection } };
  });
  for (const target of local) {
    if (target.shared) continue;
    // From before the zone recorded targets: this device's own, under its name, or beside a
    // zone's target of that name, under the name its daemon records it by.
    const recorded = zone.find((t) => t.name === target.name);
    if (recorded?.via === self && recorded.url === target.url) continue; // the same one
    const name = recorded ? adoptedName(target.name, self) : target.name;
    if (zone.some((t) => t.name === name) || resolved.some((t) => t.name === name)) continue;
    resolved.push({
      name,
      url: target.url,
      via: self,
      route: { kind: "direct", connection: { ...target, name } },
    });
  }
  return resolved.sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** The name a device's own target takes when the zone has another of its name: usb-laptop. */
export function adoptedName(name: string, self: string): string {
  return `${name}-${self}`.slice(0, 32);
}

/**
 * The targets, for work the daemon does by itself: a damaged file of this device's
 * connections is said once and counts as no target (the commands that read it say what is
 * wrong and how to mend it).
 */
export function targetsForDaemon(
  paths: HomePaths,
  db: StateQueries,
  self: string,
  log: Log,
): ResolvedTarget[] {
  return knownTargetsForDaemon(paths, db, self, log) ?? [];
}

/**
 * The same, but undefined while that file is damaged: for work that must tell "no such
 * target" (removed: what was said of it is forgotten) from "not known now".
 */
export function knownTargetsForDaemon(
  paths: HomePaths,
  db: StateQueries,
  self: string,
  log: Log,
): ResolvedTarget[] | undefined {
  try {
    const targets = resolveTargets(paths, db, self);
    saidDamaged = undefined;
    return targets;
  } catch (error) {
    if (!(error instanceof BuckyError)) throw error;
    if (saidDamaged !== error.message) log.error("backups stopped", { error: error.message });
    saidDamaged = error.message;
    return undefined;
  }
}
let saidDamaged: string | undefined;

/** The zone's targets as the device of `paths` sees them (opening its zone to read them). */
export function homeTargets(paths: HomePaths, log: Log): ResolvedTarget[] {
  const zone = openCheckedZone(paths.home, log);
  try {
    return resolveTargets(paths, zone.sqlite, zone.device.name);
  } finally {
    zone.close();
  }
}

/**
 * The target to use: the one named, or the only one there is. `which` may also be a
 * directory or sftp:// URL that is no target of the zone (restoring on a new box).
 */
export function chooseTarget(
  targets: readonly ResolvedTarget[],
  which: string | undefined,
  identityFile?: string,
): ResolvedTarget {
  if (which) {
    const named = targets.find((t) => t.name === which);
    if (named) {
      if (!identityFile || named.route.kind !== "direct") return named;
      const connection = { ...named.route.connection, identityFile: resolve(identityFile) };
      return { ...named, route: { kind: "direct", connection } };
    }
    if (which.includes("/")) {
      const connection = newTarget("adhoc", which, identityFile);
      return { name: which, url: connection.url, via: null, route: { kind: "direct", connection } };
    }
    throw unknownTarget(which, targets);
  }
  if (targets.length === 1) return targets[0] as ResolvedTarget;
  throw new BuckyError(
    targets.length === 0 ? "E_NOT_FOUND" : "E_USAGE",
    targets.length === 0
      ? "no backup target is set up"
      : `there are ${targets.length} backup targets: say which one`,
    targets.length === 0
      ? "Add one: `bucky backup target add usb /mnt/usb/bucky` (or an sftp:// URL)."
      : `Use --target with one of: ${targets.map((t) => t.name).join(", ")}.`,
  );
}

export function unknownTarget(name: string, targets: readonly { name: string }[]): BuckyError {
  return new BuckyError(
    "E_NOT_FOUND",
    `there is no backup target named ${name}`,
    targets.length > 0
      ? `The targets are: ${targets.map((t) => t.name).join(", ")}.`
      : "Add one with `bucky backup target add`.",
  );
}

/** What `bucky backup target list` shows of a target, as this device sees it. */
export interface TargetView {
  readonly name: string;
  readonly url: string;
  /** The device that reaches it. */
  readonly via: string;
  /** How this device reaches it: itself, or through the via device. */
  readonly reach: "direct" | "through";
  /** This device's last backup there, and its last verify of it. */
  readonly lastBackup: string | null;
  readonly lastVerify: TargetStatus["lastVerify"] | null;
}

export function listTargets(paths: HomePaths, log: Log): TargetView[] {
  const status = readBackupStatus(paths);
  return homeTargets(paths, log).map((t) => ({
    name: t.name,
    url: t.url,
    via: t.via ?? "",
    reach: t.route.kind,
    lastBackup: status[t.name]?.lastBackup?.at ?? null,
    lastVerify: status[t.name]?.lastVerify ?? null,
  }));
}
