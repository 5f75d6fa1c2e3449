/**
 * Hybrid logical clock: 48-bit wall milliseconds plus a 16-bit counter, ordered by
 * (ms, counter) and, between devices, by device id. The clock is passed in: this module
 * never reads the time.
 */

export interface Hlc {
  readonly ms: number;
  readonly counter: number;
}

export const MAX_HLC_MS = 2 ** 48 - 1;
export const MAX_HLC_COUNTER = 0xffff;
/**
 * How far ahead of a node's clock another device's may be: a changeset (or a device's
 * signed record) stamped further ahead is refused.
 */
export const MAX_CLOCK_AHEAD_MS = 60_000;

/** The timestamp for a local event after `last`, at wall time `nowMs`. */
export function nextHlc(last: Hlc | undefined, nowMs: number): Hlc {
  if (last === undefined || nowMs > last.ms) return { ms: nowMs, counter: 0 };
  // The wall clock did not advance (or went back): count within the same millisecond,
  // spilling into the next one rather than wrapping the counter.
  if (last.counter < MAX_HLC_COUNTER) return { ms: last.ms, counter: last.counter + 1 };
  return { ms: last.ms + 1, counter: 0 };
}

/**
 * The local clock after seeing `remote`, or undefined when `remote` is more than
 * `maxAheadMs` ahead of `nowMs`: such a clock would drag every later write into the future.
 */
export function observeHlc(
  last: Hlc | undefined,
  remote: Hlc,
  nowMs: number,
  maxAheadMs: number,
): Hlc | undefined {
  if (remote.ms > nowMs + maxAheadMs) return undefined;
  const latest = last === undefined || compareHlc(remote, last) > 0 ? remote : last;
  return latest.ms >= nowMs ? nextHlc(latest, nowMs) : { ms: nowMs, counter: 0 };
}

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.ms - b.ms || a.counter - b.counter;
}
