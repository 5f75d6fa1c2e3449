import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { ClockOffsets, OFFSET_WINDOW_MS } from "./clock-offsets.ts";

const laptop = "laptop-id" as DeviceId;
const T = 1_800_000_000_000;

describe("a peer's clock offset, from its requests", () => {
  test("never read: no offset, and a request is taken as signed now", () => {
    const clocks = new ClockOffsets();
    expect(clocks.offsetMs(laptop)).toBeUndefined();
    expect(clocks.signedAt(laptop, T - 60_000, T)).toBe(T);
  });

  test("the least delayed reading wins: a request held on the way reads as signed when it was", () => {
    const clocks = new ClockOffsets();
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
    const clocks = new ClockOffsets();
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
    const clocks = new ClockOffsets();
    clocks.read(laptop, T + 1_000, T);
    clocks.read("nas-id" as DeviceId, T - 1_000, T);
    expect(clocks.offsetMs(laptop)).toBe(1_000);
    expect(clocks.offsetMs("nas-id" as DeviceId)).toBe(-1_000);
  });
});
