import { describe, expect, test } from "bun:test";
import { MAX_CLOCK_AHEAD_MS } from "../../protocol/hlc.ts";
import { lossBound } from "./loss-bound.ts";

const WINDOW = 3_000;
const base = { copyAtMs: 10_000, holderSaidAtMs: 14_000, liveWindowMs: WINDOW };
/** Away from 20 s to 40 s. */
const away = { fromMs: 20_000, untilMs: 40_000 };
const BACK = away.untilMs;

describe("how much a takeover may have lost", () => {
  test("a standby that ran throughout: from the snapshot to a live window past the holder's last presence", () => {
    expect(lossBound({ ...base, holderHeardAtMs: 50_000, away: undefined })).toEqual({
      lostAtMostMs: 7_000,
      lostUnknownReason: null,
    });
  });

  test("a snapshot shipped after the holder's last presence heard: it may have written on, unheard, for a live window", () => {
    const after = { ...base, copyAtMs: 14_600, holderHeardAtMs: 50_000, away: undefined };
    expect(lossBound(after).lostAtMostMs).toBe(2_400);
    // Only a snapshot from a live window past it holds all it can have written.
    expect(lossBound({ ...after, copyAtMs: 17_000 }).lostAtMostMs).toBe(0);
  });

  test("a standby away before, that heard the holder say a word well after it came back", () => {
    const said = BACK + MAX_CLOCK_AHEAD_MS + 1_000;
    expect(
      lossBound({ ...base, holderSaidAtMs: said, holderHeardAtMs: said + 10, away }).lostAtMostMs,
    ).toBe(said + WINDOW - base.copyAtMs);
  });

  test("a standby away after the holder had gone quiet for longer than a live window, whatever the clocks", () => {
    expect(lossBound({ ...base, holderHeardAtMs: 16_000, away }).lostAtMostMs).toBe(7_000);
  });

  test("a standby away when the holder was last heard, and not hearing it since: not known", () => {
    const longAway = { fromMs: 20_000, untilMs: 7_220_000 };
    for (const heard of [18_000, 20_000, 20_500]) {
      const bound = lossBound({ ...base, holderHeardAtMs: heard, away: longAway });
      expect(bound.lostAtMostMs).toBeNull();
      expect(bound.lostUnknownReason).toBe(
        `this device was away from 1970-01-01T00:00:20.000Z to 1970-01-01T02:00:20.000Z and last heard the holder alive at ${new Date(heard).toISOString()}, as it went away: how long the holder went on writing is not known`,
      );
    }
  });

  test("a record said while the standby was away, heard as it came back (pushes queued for a paused process): not known", () => {
    const bound = lossBound({ ...base, holderSaidAtMs: 35_000, holderHeardAtMs: 40_050, away });
    expect(bound).toEqual({
      lostAtMostMs: null,
      lostUnknownReason:
        "this device was away from 1970-01-01T00:00:20.000Z to 1970-01-01T00:00:40.000Z, and the holder's last presence it heard was said at 1970-01-01T00:00:35.000Z by the holder's clock, which may have been while it was away: how long the holder went on writing is not known",
    });
  });

  test("a holder whose clock runs ahead cannot pass a record said while the standby was away off as fresh", () => {
    // Said at 37 s by this clock, 42 s by the holder's, five seconds ahead; or a minute ahead.
    for (const said of [42_000, BACK + MAX_CLOCK_AHEAD_MS - 1])
      expect(
        lossBound({ ...base, holderSaidAtMs: said, holderHeardAtMs: BACK + 50, away }).lostAtMostMs,
      ).toBeNull();
  });
});
