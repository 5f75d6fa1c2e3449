/**
 * What a revocation's cut sets aside. A revocation keeps a device's changesets up to a
 * seq (Member.revokedAfterSeq: the owner's `lastSeq`, or the checkpoint's frontier) and
 * sets aside the rest, on every device, whatever order it heard things in: what this
 * device holds past the cut is dropped and the keys it wrote recomputed. A quarantine
 * cuts nothing (it refuses: lib/sync/membership.ts): a cut a device's own signatures
 * could trigger would let a stolen device erase what it wrote, its admissions and the
 * zone's founding changeset with them, on every device. A device document that went with them may have been what made another
 * device a member (the device that admits a joiner writes its document): that device is
 * then no member, so its changesets go too (past what the checkpoint settled), and so on.
 * A device that heard of the cut first refuses them for that very reason (their author
 * is not a member), and the changesets held are always a member's (lib/state/verify.ts).
 */
import type { DeviceId } from "../../protocol/ids.ts";
import type { Log } from "../log.ts";
import { dropChangesets, reapplyKeys } from "../state/apply.ts";
import type { SealTally } from "../state/seal.ts";
import type { StateDb } from "../store/db.ts";
import type { Member, Membership } from "./membership.ts";

export interface CutContext {
  readonly log: Log;
  /** Who is a member, read from the state as it is now (after each drop). */
  readonly membership: () => Membership;
}

/**
 * Drops what `member` signed past the zone's cut of it and what it took away from other
 * devices' membership; returns the devices whose changesets were dropped (their feed
 * heads are lower now).
 */
export function dropPastCut(
  db: StateDb,
  tally: SealTally,
  member: Member,
  context: CutContext,
): DeviceId[] {
  if (member.revokedAfterSeq === undefined) return [];
  const touched: DeviceId[] = [];
  let members = context.membership();
  let next: { member: Member; afterSeq: number; what: string }[] = [
    {
      member,
      afterSeq: member.revokedAfterSeq,
      what: "dropped changesets of a revoked device",
    },
  ];
  while (next.length > 0) {
    const keys = new Set<string>();
    for (const { member, afterSeq, what } of next) {
      const dropped = dropChangesets(db, tally, member.id, afterSeq);
      if (dropped.length === 0) continue;
      touched.push(member.id);
      for (const changeset of dropped) for (const op of changeset.ops) keys.add(op.key);
      context.log.info(what, {
        device: member.name,
        count: dropped.length,
        keptThroughSeq: afterSeq,
      });
    }
    if (keys.size === 0) break;
    reapplyKeys(db, tally, keys);
    // Only a device document going can take a device out of the zone.
    if (![...keys].some((key) => key.startsWith("devices/") && key.endsWith("/doc"))) break;
    const now = context.membership();
    const frontier = tally.frontier();
    next = [...members.byId.values()]
      .filter((was) => !now.byId.has(was.id))
      .map((gone) => ({
        member: gone,
        afterSeq: frontier.get(gone.id) ?? 0,
        what: "dropped changesets of a device no longer admitted (its document was set aside)",
      }));
    members = now;
  }
  return touched;
}
