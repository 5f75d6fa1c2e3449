import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { ClockOffsets, OFFSET_WINDOW_MS } from "./clock-offsets.ts";

const laptop = "laptop-id" as DeviceId;
const T = 1_800_000_000_000;

/**
 * ClockOffsets on a wall clock that is never set: its monotonic clock moves as the wall
 * clock does, each time one is read at `nowMs`.
 */
function steadyClocks() {
  let monotonicMs = 0;
  const clocks = new ClockOffsets(() => monotonicMs);
  return {
    read(device: DeviceId, signedAtMs: number, nowMs: number) {
      monotonicMs = nowMs - T;
      clocks.read(device, signedAtMs, nowMs);
    },
    signedAt(device: DeviceId, signedAtMs: number, nowMs: number) {
      monotonicMs = nowMs - T;
      return clocks.signedAt(device, signedAtMs, nowMs);
    },
    offsetMs: (device: DeviceId) => clocks.offsetMs(device),
  };
}

describe("a peer's clock offset, from its requests", () => {
  test("never read: no offset, and a request is taken as signed now", () => {
    const clocks = steadyClocks();
    expect(clocks.offsetMs(laptop)).toBeUndefined();
    expect(clocks.signedAt(laptop, T - 60_000, T)).toBe(T);
  });

  test("the least delayed reading wins: a request held on the way reads as signed when it was", () => {
    const clocks = steadyClocks();
    // Its clock 30 s behind; a request taking 2 ms, then one held 4 minutes by a relay.
    clocks.read(laptop, T - 30_000 - 2, T);
    expect(clocks.offsetMs(laptop)).toBe(-30_002);
    expect(clocks.signedAt(laptop, T - 30_000 - 2, T)).toBe(T);
    const arrived = T + 240_000;
    const signed = T + 10_000 - 30_000; // its clock, 10 s after the first
    clocks.read(laptop, signed, arrived);
    expect(clocks.offsetMs(laptop)).toBe(-30_002);
    expect(clocks.signedAt(laptop, signed, arrived)).toBe(T + 10_002);
  });

  test("a clock set back is followed within two windows, one set ahead at once", () => {
    const clocks = steadyClocks();
    clocks.read(laptop, T + 5_000, T);
    clocks.read(laptop, T + 65_000, T + 1_000); // set 59 s ahead
    expect(clocks.offsetMs(laptop)).toBe(64_000);
    // Set back to agree with this clock: the old reading lasts this window and the next.
    clocks.read(laptop, T + 2_000, T + 2_000);
    expect(clocks.offsetMs(laptop)).toBe(64_000);
    clocks.read(laptop, T + OFFSET_WINDOW_MS + 10, T + OFFSET_WINDOW_MS + 10);
    expect(clocks.offsetMs(laptop)).toBe(64_000);
    clocks.read(laptop, T + 2 * OFFSET_WINDOW_MS + 10, T + 2 * OFFSET_WINDOW_MS + 10);
    expect(clocks.offsetMs(laptop)).toBe(0);
    // Silent for longer than two windows: only the newest reading counts.
    clocks.read(laptop, T + 9 * OFFSET_WINDOW_MS - 500, T + 9 * OFFSET_WINDOW_MS);
    expect(clocks.offsetMs(laptop)).toBe(-500);
  });

  test("peers are read apart", () => {
    const clocks = steadyClocks();
    clocks.read(laptop, T + 1_000, T);
    clocks.read("nas-id" as DeviceId, T - 1_000, T);
    expect(clocks.offsetMs(laptop)).toBe(1_000);
    expect(clocks.offsetMs("nas-id" as DeviceId)).toBe(-1_000);
  });

  test("this clock set ahead or back: each peer is heard when it signed, by the clock as set now", () => {
    let monotonicMs = 0;
    const clocks = new ClockOffsets(() => monotonicMs);
    clocks.read(laptop, T, T);
    // 30 s on, this clock is set 3 minutes ahead (NTP stepping a slow clock right).
    monotonicMs = 30_000;
    const now = T + 30_000 + 180_000;
    clocks.read(laptop, T + 30_000, now);
    expect(clocks.signedAt(laptop, T + 30_000, now)).toBe(now);
    expect(clocks.offsetMs(laptop)).toBe(-180_000);
    // Then set 10 minutes back, then ahead again; the peer, held 4 minutes once, still reads held.
    monotonicMs = 60_000;
    const back = T + 60_000 - 600_000;
    clocks.read(laptop, T + 60_000, back);
    expect(clocks.signedAt(laptop, T + 60_000, back)).toBe(back);
    expect(clocks.offsetMs(laptop)).toBe(600_000);
    monotonicMs = 300_000;
    clocks.read(laptop, T + 60_000, T + 300_000);
    expect(clocks.signedAt(laptop, T + 60_000, T + 300_000)).toBe(T + 60_000);
  });

  test("this device asleep: its monotonic clock stood still, the peer's did not", () => {
    let monotonicMs = 0;
    const clocks = new ClockOffsets(() => monotonicMs);
    clocks.read(laptop, T - 2_000, T);
    monotonicMs = 10;
    const now = T + 3_600_000;
    clocks.read(laptop, now - 2_000, now);
    expect(clocks.signedAt(laptop, now - 2_000, now)).toBe(now);
    expect(clocks.offsetMs(laptop)).toBe(-2_000);
  });
});
