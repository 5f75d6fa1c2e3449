/**
 * The devices quarantined, as `bucky status` says them: read from membership alone, so
 * status's path with no node running loads nothing of the store (no drizzle).
 */
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { Membership } from "./membership.ts";

/**
 * A device quarantined, for `bucky status`: who, and the seq its histories part at (every
 * device refuses its changesets from there on).
 */
export interface QuarantineNote {
  readonly device: string;
  readonly seq: number;
}

/**
 * The devices quarantined and not revoked, by name, for `bucky status`: the same wherever
 * the proof is.
 */
export function quarantineNotes(membership: Membership): QuarantineNote[] {
  const notes: QuarantineNote[] = [];
  for (const member of membership.byId.values()) {
    // A device revoked since needs nothing more of the owner.
    if (member.forkSeq === undefined || member.revokedAfterSeq !== undefined) continue;
    notes.push({ device: member.name, seq: member.forkSeq });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}
