/**
 * How far each peer's clock is ahead of this one's, as its signed requests say: each
 * request read against this clock gives its offset less the time it took to arrive, so
 * the largest reading of late is the least delayed, the best guess of the offset. A request
 * held on the way (a relay may hold one up to the skew limit the signature allows) reads
 * low and is outweighed.
 *
 * The largest is kept over two windows that take turns, so a guess always rests on at
 * least one window's readings and a peer's clock set back is followed within two (until
 * then its requests read as held, which they cannot be told apart from).
 *
 * Readings are taken against this device's steady clock (a monotonic one, started where the
 * wall clock stood at the first reading), not its wall clock: this clock set ahead by a
 * few minutes would otherwise lower every peer's readings at once, and for up to two
 * windows every peer would be heard those minutes before it signed, a live holder silent
 * to its standby. What this clock is set to counts only when a time is given back.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { MAX_REQUEST_SKEW_MS } from "../../protocol/request-auth.ts";

/** As long as a request may be held and still verify: one held that long meets a window's readings. */
export const OFFSET_WINDOW_MS = MAX_REQUEST_SKEW_MS;

interface Readings {
  /** When the current window began (the steady clock). */
  startedAtMs: number;
  /** The largest reading of the current window, and of the one before (-Infinity: none). */
  current: number;
  previous: number;
}

export class ClockOffsets {
  private readonly readings = new Map<DeviceId, Readings>();
  /** The wall clock less the monotonic one, at the first reading: the steady clock's start. */
  private steadyFromMs: number | undefined;
  /** How far the wall clock was ahead of the steady one at the last reading. */
  private wallAheadMs = 0;

  /** `monotonicMs`: a clock that is never set (performance.now's). */
  constructor(private readonly monotonicMs: () => number = () => performance.now()) {}

  /** Reads a request `device` signed at `signedAtMs` (its clock) that arrived at `nowMs`. */
  read(device: DeviceId, signedAtMs: number, nowMs: number): void {
    const steadyMs = this.steady(nowMs);
    const reading = signedAtMs - steadyMs;
    const kept = this.readings.get(device);
    if (!kept) {
      this.readings.set(device, { startedAtMs: steadyMs, current: reading, previous: -Infinity });
      return;
    }
    const windows = Math.floor((steadyMs - kept.startedAtMs) / OFFSET_WINDOW_MS);
    if (windows >= 1) {
      kept.previous = windows === 1 ? kept.current : -Infinity;
      kept.current = -Infinity;
      kept.startedAtMs += windows * OFFSET_WINDOW_MS;
    }
    kept.current = Math.max(kept.current, reading);
  }

  /**
   * The offset's best guess (ms; positive: its clock is ahead of this wall clock, as it
   * stood at the last reading), or undefined: never read.
   */
  offsetMs(device: DeviceId): number | undefined {
    const steady = this.steadyOffsetMs(device);
    return steady === undefined ? undefined : steady - this.wallAheadMs;
  }

  /**
   * When, by this clock, `device` signed a request it dated `signedAtMs`: its time less
   * its offset, never later than `nowMs`. Read the request first.
   */
  signedAt(device: DeviceId, signedAtMs: number, nowMs: number): number {
    const offset = this.steadyOffsetMs(device);
    if (offset === undefined) return nowMs;
    return Math.min(nowMs, signedAtMs - offset + (nowMs - this.steady(nowMs)));
  }

  private steadyOffsetMs(device: DeviceId): number | undefined {
    const kept = this.readings.get(device);
    return kept && Math.max(kept.current, kept.previous);
  }

  /** The steady clock's time when the wall clock says `nowMs`. */
  private steady(nowMs: number): number {
    const monotonicMs = this.monotonicMs();
    this.steadyFromMs ??= nowMs - monotonicMs;
    const steadyMs = monotonicMs + this.steadyFromMs;
    this.wallAheadMs = nowMs - steadyMs;
    return steadyMs;
  }
}
