/**
 * How much of an app's writes a takeover may have lost: those the holder made after the
 * snapshot the new holder starts from, until it died. When it died is known only from its
 * presence as heard here: after the last one heard, and before a live window past it. Its
 * later words may have been said and not reached this device (they travel with syncs,
 * through relays, behind a full uplink; a beat may be late), but a device alive and unheard
 * for a live window is what the zone takes for gone, so the figure runs from the snapshot
 * to a live window past the holder's last presence heard. It holds only if someone was
 * listening all along: a standby that was itself off when the holder went quiet cannot tell
 * whether the holder wrote on for seconds or for hours. Then the figure is unknown, said
 * with why, never a false "at most".
 */

import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import type { AwaySpan } from "../sync/presence.ts";

export type LossBound =
  | { readonly lostAtMostMs: number; readonly lostUnknownReason: null }
  | { readonly lostAtMostMs: null; readonly lostUnknownReason: string }
  /** Nothing to say: not taken over from a copy, or from a holder never heard of. */
  | { readonly lostAtMostMs: null; readonly lostUnknownReason: null };

export const NO_FIGURE: LossBound = { lostAtMostMs: null, lostUnknownReason: null };

export function lossBound(facts: {
  /** The snapshot's time, by the holder's clock. */
  readonly copyAtMs: number;
  /** The holder's last presence record's time, by the holder's clock. */
  readonly holderSaidAtMs: number;
  /** When that record was heard (here, or by the device that passed it on), by this device's clock. */
  readonly holderHeardAtMs: number;
  readonly away: AwaySpan | undefined;
  /** How long a heartbeat keeps a device live: a holder heard within it of this device going away was still alive then. */
  readonly liveWindowMs: number;
}): LossBound {
  const { away, holderHeardAtMs, holderSaidAtMs } = facts;
  if (away) {
    const span = `this device was away from ${iso(away.fromMs)} to ${iso(away.untilMs)}`;
    const whileAway = (ms: number) => ms >= away.fromMs - facts.liveWindowMs && ms < away.untilMs;
    if (whileAway(holderHeardAtMs))
      return {
        lostAtMostMs: null,
        lostUnknownReason: `${span} and last heard the holder alive at ${iso(holderHeardAtMs)}, as it went away: how long the holder went on writing is not known`,
      };
    // Heard once back, a record said while this device was away is as stale: the holder's
    // pushes waited for a paused process in its sockets, and came in as it woke. When it
    // was said is the holder's clock's word, which may run ahead of this one's by as much
    // as a record is taken at (MAX_CLOCK_AHEAD_MS, a guess of the lead from its requests
    // can be far off after a sleep): so one heard since it came back, said less than that
    // after, may have been said while it was away.
    const heardSinceBack = holderHeardAtMs >= away.untilMs;
    if (
      whileAway(holderSaidAtMs) ||
      (heardSinceBack && holderSaidAtMs - MAX_CLOCK_AHEAD_MS < away.untilMs)
    )
      return {
        lostAtMostMs: null,
        lostUnknownReason: `${span}, and the holder's last presence it heard was said at ${iso(holderSaidAtMs)} by the holder's clock, which may have been while it was away: how long the holder went on writing is not known`,
      };
  }
  return {
    lostAtMostMs: Math.max(0, holderSaidAtMs + facts.liveWindowMs - facts.copyAtMs),
    lostUnknownReason: null,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
