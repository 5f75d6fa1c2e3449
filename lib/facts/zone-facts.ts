/**
 * The zone as every device can see it alike: its members, which of them are alive (by
 * their presence), and what each said of itself last (its device facts). Status and the
 * reliability level are computed from this, so any device gives the same answer.
 */

import type { ZoneTarget } from "../../protocol/backup/zone-target.ts";
import type { DeviceFacts } from "../../protocol/device-facts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { sinceAdded } from "../backup/status.ts";
import { readZoneTargets } from "../backup/zone-targets.ts";
import type { StateReader } from "../store/reads.ts";
import { heldFacts } from "../sync/facts.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import { heardWithin, lastHeardAlive } from "../sync/presence.ts";
import { type DeviceFactsPayload, readPayload } from "./payload.ts";

export interface DeviceStanding {
  readonly name: string;
  readonly id: DeviceId;
  readonly standing: "member" | "revoked" | "quarantined";
  /** Its node was heard alive within the live window (the one placement uses). */
  readonly live: boolean;
  /** When its node was last heard alive here (ms), or null: never. */
  readonly heardAliveAt: number | null;
  /** What it last said of itself (empty when it never did). */
  readonly facts: DeviceFactsPayload;
  /** When it said that (its clock, ms), or null. */
  readonly factsAt: number | null;
}

/**
 * `self`, when given, is what the asking device knows of itself now: it stands in for
 * those parts of its last published record, which its daemon brings up to date within
 * seconds (or at its next start, when it is not running). `held`: the device facts held,
 * when the caller read them already (each record's signature is checked as it is read).
 */
export function readZoneFacts(
  db: StateReader,
  membership: Membership,
  nowMs: number,
  liveWindowMs: number,
  self?: { readonly id: DeviceId; readonly facts: Partial<DeviceFactsPayload> },
  held: readonly DeviceFacts[] = heldFacts(db),
): DeviceStanding[] {
  const alive = lastHeardAlive(db);
  const targets = new Map(readZoneTargets(db).map((target) => [target.name, target]));
  const said = new Map<DeviceId, { facts: DeviceFactsPayload; at: number }>(
    held.map((record) => [record.device, { facts: readPayload(record.facts), at: record.at }]),
  );
  if (self) {
    const published = said.get(self.id)?.facts ?? {};
    said.set(self.id, { facts: { ...published, ...self.facts }, at: nowMs });
  }
  return [...membership.byId.values()]
    .map((member): DeviceStanding => {
      const standing = standingOf(membership, member.id);
      const heardAliveAt = alive.get(member.id) ?? null;
      const record = said.get(member.id);
      return {
        name: member.name,
        id: member.id,
        standing: standing === "unknown" ? "revoked" : standing,
        live: standing === "member" && heardWithin(heardAliveAt, nowMs, liveWindowMs),
        heardAliveAt,
        facts: record ? ofTargetsNow(record.facts, member.name, targets) : {},
        factsAt: record?.at ?? null,
      };
    })
    .sort((a, b) => compareCodeUnits(a.name, b.name));
}

/**
 * `facts` with what they say of backups kept to the zone's targets as they are now: a
 * device away when a target was removed, or removed and added again, says what it did
 * there until its daemon hears of it (own-facts.ts), and every other device showed it
 * backed up, at high reliability, where the target held nothing of it. Of a target it
 * reaches through another device: only what is dated since the target was added, and no
 * prune (the device that reaches a target alone prunes it).
 */
function ofTargetsNow(
  facts: DeviceFactsPayload,
  device: string,
  targets: ReadonlyMap<string, ZoneTarget>,
): DeviceFactsPayload {
  if (!facts.backup?.targets) return facts;
  const kept = Object.entries(facts.backup.targets).flatMap(([name, said]) => {
    const target = targets.get(name);
    if (!target) return [];
    if (target.via === device) return [[name, said] as const];
    const { lastPrune: _, lastPruneError: __, ...reached } = said;
    return [[name, sinceAdded(reached, Date.parse(target.addedAt))] as const];
  });
  return { ...facts, backup: { ...facts.backup, targets: Object.fromEntries(kept) } };
}

/** Members in good standing only: revoked and quarantined devices do not count. */
export function countedDevices(devices: readonly DeviceStanding[]): DeviceStanding[] {
  return devices.filter((device) => device.standing === "member");
}
