/**
 * The devices whose records this one refuses because their clock is too far ahead of its
 * own (protocol/hlc.ts MAX_CLOCK_AHEAD_MS): their changesets, presence and facts. Such a
 * device is fenced off: every other device would call it offline, fail its apps over and,
 * a week on, say to revoke it. So the refusing devices say it in their facts
 * (lib/facts/payload.ts `clockAhead`), and every device says the same of it.
 *
 * Kept in memory while the refusals go on: a refused device sends its records with every
 * exchange, so one that is not refused for a few minutes is set right, or gone.
 */
import type { DeviceId } from "../../protocol/ids.ts";

/** A device not refused for its clock for this long is no longer said to be ahead. */
export const CLOCK_AHEAD_LAPSE_MS = 3 * 60_000;
/**
 * How far ahead is said to within this, or a tenth of it: a figure that moves less is not
 * said anew (each new figure is a new signed record of this device's facts).
 */
const AHEAD_STEP_MS = 5_000;

/** A device refused for its clock: how far ahead it was last seen, and since when (ms). */
export interface ClockAhead {
  readonly aheadMs: number;
  readonly sinceMs: number;
}

export class ClocksAhead {
  private readonly ahead = new Map<DeviceId, ClockAhead & { readonly lastMs: number }>();
  private listener: () => void = () => {};

  /** Calls `listener` when a device is first refused, or how far ahead it is moved. */
  onChange(listener: () => void): void {
    this.listener = listener;
  }

  /**
   * A record of `device` (checked as its own, signature and all) was refused at `nowMs`
   * here for its clock, which is `aheadMs` ahead of this one's.
   */
  refused(device: DeviceId, aheadMs: number, nowMs: number): void {
    const held = this.ahead.get(device);
    const live = held !== undefined && nowMs - held.lastMs <= CLOCK_AHEAD_LAPSE_MS;
    const changed =
      !live || Math.abs(held.aheadMs - aheadMs) >= Math.max(AHEAD_STEP_MS, held.aheadMs / 10);
    this.ahead.set(device, {
      aheadMs: changed ? aheadMs : held.aheadMs,
      sinceMs: live ? held.sinceMs : nowMs,
      lastMs: nowMs,
    });
    if (changed) this.listener();
  }

  /** The devices refused for their clock lately, at `nowMs`. */
  current(nowMs: number): Map<DeviceId, ClockAhead> {
    const out = new Map<DeviceId, ClockAhead>();
    for (const [device, { aheadMs, sinceMs, lastMs }] of this.ahead) {
      if (nowMs - lastMs > CLOCK_AHEAD_LAPSE_MS) this.ahead.delete(device);
      else out.set(device, { aheadMs, sinceMs });
    }
    return out;
  }
}
