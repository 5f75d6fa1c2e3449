/**
 * What each device of the zone said was its last backup to a target, so that verify can
 * check the target still holds it. The target is off the zone and untrusted: it can hide a
 * device's newest snapshots (roll its history back, or lose them), and what is left verifies
 * as sound, while a restore quietly takes an older one. The zone knows better: each device
 * says its last backup in its signed device facts (this device's own status file, newer,
 * stands in for its own). `backup verify` and `backup list` say which the target lacks,
 * and `backup restore latest` refuses to take an older one unless told to.
 */
import { readPayload } from "../facts/payload.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { heldFacts } from "../sync/facts.ts";
import { loadMembership, standingOf } from "../sync/membership.ts";
import { openZone } from "../zone/open.ts";
import { readBackupStatus } from "./status.ts";
import { readZoneTargets } from "./zone-targets.ts";

export interface SaidLatest {
  readonly device: string;
  readonly snapshot: string;
  /** When that backup started: its snapshot's time (RFC 3339). */
  readonly at: string;
}

/**
 * Each member's last backup to the target `name`, as it said it. A backup said to be from
 * before the zone recorded the target is left out: it may be of an earlier target of that
 * name (removed, and added again elsewhere), or of one recorded only later.
 */
export function saidLatest(paths: HomePaths, name: string, log: Log): SaidLatest[] {
  const zone = openZone(paths.home, log);
  try {
    const recorded = readZoneTargets(zone.db).find((t) => t.name === name);
    if (!recorded) return [];
    const since = Date.parse(recorded.addedAt);
    const membership = loadMembership(zone.db, zone.zone.id, zone.devices);
    const said = new Map<string, { snapshot: string; at: string }>();
    for (const record of heldFacts(zone.db)) {
      const member = membership.byId.get(record.device);
      if (!member || standingOf(membership, record.device) !== "member") continue;
      const last = readPayload(record.facts).backup?.targets[name]?.lastBackup;
      if (last) said.set(member.name, { snapshot: last.snapshot, at: last.at });
    }
    const own = readBackupStatus(paths)[name]?.lastBackup;
    if (own) said.set(zone.device.name, { snapshot: own.snapshot, at: own.at });
    return [...said]
      .filter(([, last]) => Date.parse(last.at) >= since)
      .map(([device, last]) => ({ device, ...last }));
  } finally {
    zone.close();
  }
}

/**
 * The last backups said that `trusted` (snapshots whose signature holds) reaches neither
 * by that backup nor by a later one of its device: a prune may have removed a last backup
 * since, never its device's newest.
 */
export function lastBackupsMissing(
  said: readonly SaidLatest[],
  trusted: readonly { readonly device: string; readonly time: string }[],
): SaidLatest[] {
  return said.filter(
    (last) =>
      !trusted.some(
        (snapshot) =>
          snapshot.device === last.device && Date.parse(snapshot.time) >= Date.parse(last.at),
      ),
  );
}
