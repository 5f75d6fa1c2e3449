/**
 * How far each peer's clock is ahead of this one's, as its signed requests say: each
 * request read against this clock gives its offset less the time it took to arrive, so
 * the largest reading of late is the least delayed, the best guess of the offset. A request
 * held on the way (a relay may hold one up to the skew limit the signature allows) reads
 * low and is outweighed.
 *
 * The largest is kept over two windows that take turns, so a guess always rests on at
 * least one window's readings and a clock set back is followed within two.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { MAX_REQUEST_SKEW_MS } from "../../protocol/request-auth.ts";

/** As long as a request may be held and still verify: one held that long meets a window's readings. */
export const OFFSET_WINDOW_MS = MAX_REQUEST_SKEW_MS;

interface Readings {
  /** When the current window began (this clock). */
  startedAtMs: number;
  /** The largest reading of the current window, and of the one before (-Infinity: none). */
  current: number;
  previous: number;
}

export class ClockOffsets {
  private readonly readings = new Map<DeviceId, Readings>();

  /** Reads a request `device` signed at `signedAtMs` (its clock) that arrived at `nowMs`. */
  read(device: DeviceId, signedAtMs: number, nowMs: number): void {
    const reading = signedAtMs - nowMs;
    const kept = this.readings.get(device);
    if (!kept) {
      this.readings.set(device, { startedAtMs: nowMs, current: reading, previous: -Infinity });
      return;
    }
    const windows = Math.floor((nowMs - kept.startedAtMs) / OFFSET_WINDOW_MS);
    if (windows >= 1) {
      kept.previous = windows === 1 ? kept.current : -Infinity;
      kept.current = -Infinity;
      kept.startedAtMs += windows * OFFSET_WINDOW_MS;
    }
    kept.current = Math.max(kept.current, reading);
  }

  /** The offset's best guess (ms; positive: its clock is ahead), or undefined: never read. */
  offsetMs(device: DeviceId): number | undefined {
    const kept = this.readings.get(device);
    return kept && Math.max(kept.current, kept.previous);
  }

  /**
   * When, by this clock, `device` signed a request it dated `signedAtMs`: its time less
   * its offset, never later than `nowMs`. Read the request first.
   */
  signedAt(device: DeviceId, signedAtMs: number, nowMs: number): number {
    const offset = this.offsetMs(device);
    return offset === undefined ? nowMs : Math.min(nowMs, signedAtMs - offset);
  }
}
