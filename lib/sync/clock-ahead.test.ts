import { describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { CLOCK_AHEAD_LAPSE_MS, ClocksAhead } from "./clock-ahead.ts";

const laptop = "dlaptop" as DeviceId;

describe("the devices refused for their clock", () => {
  test("said from the first refusal, a new figure only when it moved, gone once refusals stop", () => {
    const ahead = new ClocksAhead();
    let told = 0;
    ahead.onChange(() => told++);
    ahead.refused(laptop, 120_000, 1_000);
    ahead.refused(laptop, 121_500, 2_000);
    expect([told, ahead.current(2_000).get(laptop)]).toEqual([
      1,
      { aheadMs: 120_000, sinceMs: 1_000 },
    ]);
    // Set a little right: under the step (5 s, or a tenth) it is the same news.
    ahead.refused(laptop, 60_500, 3_000);
    expect([told, ahead.current(3_000).get(laptop)]).toEqual([
      2,
      { aheadMs: 60_500, sinceMs: 1_000 },
    ]);
    expect(ahead.current(3_000 + CLOCK_AHEAD_LAPSE_MS).get(laptop)).toEqual({
      aheadMs: 60_500,
      sinceMs: 1_000,
    });
    expect(ahead.current(3_001 + CLOCK_AHEAD_LAPSE_MS).size).toBe(0);
    // Refused again later: a new run, since then.
    ahead.refused(laptop, 60_500, 10 * CLOCK_AHEAD_LAPSE_MS);
    expect([told, ahead.current(10 * CLOCK_AHEAD_LAPSE_MS).get(laptop)]).toEqual([
      3,
      { aheadMs: 60_500, sinceMs: 10 * CLOCK_AHEAD_LAPSE_MS },
    ]);
  });
});
