/**
 * How much of an app's writes a takeover may have lost: those the holder made after the
 * snapshot the new holder starts from, until it died. Its death is known only to within
 * when it was last heard alive, and only if someone was listening after that: a standby
 * that was itself off when the holder went quiet cannot tell whether the holder wrote on
 * for seconds or for hours. Then the figure is unknown, said with why, never a false
 * "at most".
 */

import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import type { AwaySpan } from "../sync/presence.ts";

export type LossBound =
  | { readonly lostAtMostMs: number; readonly lostUnknownReason: null }
  | { readonly lostAtMostMs: null; readonly lostUnknownReason: string }
  /** Nothing to say: not taken over from a copy, or from a holder never heard of. */
  | { readonly lostAtMostMs: null; readonly lostUnknownReason: null };

/** How much lower than the holder's true lead a guess of it may be: its requests' quickest transit, and more. */
const GUESS_LOW_MS = 1_000;

export const NO_FIGURE: LossBound = { lostAtMostMs: null, lostUnknownReason: null };

export function lossBound(facts: {
  /** The snapshot's time, by the holder's clock. */
  readonly copyAtMs: number;
  /** The holder's last presence record's time, by the holder's clock. */
  readonly holderSaidAtMs: number;
  /** When that record was heard (here, or by the device that passed it on), by this device's clock. */
  readonly holderHeardAtMs: number;
  /**
   * How far the holder's clock is ahead of this device's, as its requests said (a guess
   * that errs low by their quickest transit); undefined when not known, then as far as any
   * record is taken (MAX_CLOCK_AHEAD_MS).
   */
  readonly holderClockAheadMs: number | undefined;
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
    // pushes waited for a paused process in its sockets, and came in as it woke. Said by
    // the holder's clock, read on this one's: a holder whose clock runs ahead would pass a
    // stale record off as fresh, and one whose lead is not known may lead by the most any
    // record is taken at. Whatever its clock, a record was said before it was heard.
    const ahead = facts.holderClockAheadMs;
    const earliest =
      holderSaidAtMs - (ahead === undefined ? MAX_CLOCK_AHEAD_MS : ahead + GUESS_LOW_MS);
    const latest = Math.min(
      holderHeardAtMs,
      ahead === undefined ? Infinity : holderSaidAtMs - ahead,
    );
    if (earliest < away.untilMs && latest >= away.fromMs - facts.liveWindowMs)
      return {
        lostAtMostMs: null,
        lostUnknownReason: `${span}, and the holder's last presence it heard was said at ${iso(holderSaidAtMs)} by the holder's clock${ahead === undefined ? ", whose lead on this one's is not known" : ""}: it may have been said while this device was away, and how long the holder went on writing is not known`,
      };
  }
  return {
    lostAtMostMs: Math.max(0, facts.holderSaidAtMs - facts.copyAtMs),
    lostUnknownReason: null,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
