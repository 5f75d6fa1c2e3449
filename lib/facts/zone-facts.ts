/**
 * The zone as every device can see it alike: its members, which of them are alive (by
 * their presence), and what each said of itself last (its device facts). Status and the
 * reliability level are computed from this, so any device gives the same answer.
 */
import type { DeviceFacts } from "../../protocol/device-facts.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { StateReader } from "../store/reads.ts";
import { heldFacts } from "../sync/facts.ts";
import { type Membership, standingOf } from "../sync/membership.ts";
import { lastHeardAlive } from "../sync/presence.ts";
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
        live:
          standing === "member" && heardAliveAt !== null && nowMs - heardAliveAt <= liveWindowMs,
        heardAliveAt,
        facts: record?.facts ?? {},
        factsAt: record?.at ?? null,
      };
    })
    .sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** Members in good standing only: revoked and quarantined devices do not count. */
export function countedDevices(devices: readonly DeviceStanding[]): DeviceStanding[] {
  return devices.filter((device) => device.standing === "member");
}
