/**
 * How much of an app's writes a takeover may have lost: those the holder made after the
 * snapshot the new holder starts from, until it died. Its death is known only to within
 * when it was last heard alive, and only if someone was listening after that: a standby
 * that was itself off when the holder went quiet cannot tell whether the holder wrote on
 * for seconds or for hours. Then the figure is unknown, said with why, never a false
 * "at most".
 */

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
  const { away, holderHeardAtMs } = facts;
  if (away && holderHeardAtMs >= away.fromMs - facts.liveWindowMs && holderHeardAtMs < away.untilMs)
    return {
      lostAtMostMs: null,
      lostUnknownReason: `this device was away from ${iso(away.fromMs)} to ${iso(away.untilMs)} and last heard the holder alive at ${iso(holderHeardAtMs)}, as it went away: how long the holder went on writing is not known`,
    };
  return {
    lostAtMostMs: Math.max(0, facts.holderSaidAtMs - facts.copyAtMs),
    lostUnknownReason: null,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
