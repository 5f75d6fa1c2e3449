import { describe, expect, test } from "bun:test";
import { lossBound } from "./loss-bound.ts";

const WINDOW = 3_000;
const base = {
  copyAtMs: 10_000,
  holderSaidAtMs: 14_000,
  holderClockAheadMs: 0 as number | undefined,
  liveWindowMs: WINDOW,
};

describe("how much a takeover may have lost", () => {
  test("a standby that ran throughout: from the snapshot to the holder's last presence", () => {
    expect(lossBound({ ...base, holderHeardAtMs: 50_000, away: undefined })).toEqual({
      lostAtMostMs: 4_000,
      lostUnknownReason: null,
    });
    // Away before, but it heard the holder since it came back.
    const away = { fromMs: 20_000, untilMs: 40_000 };
    expect(lossBound({ ...base, holderHeardAtMs: 45_000, away }).lostAtMostMs).toBe(4_000);
    // Away after the holder had gone quiet for longer than a live window.
    expect(lossBound({ ...base, holderHeardAtMs: 16_000, away }).lostAtMostMs).toBe(4_000);
  });

  test("a standby away when the holder was last heard, and not hearing it since: not known", () => {
    const away = { fromMs: 20_000, untilMs: 7_220_000 };
    for (const heard of [18_000, 20_000, 20_500]) {
      const bound = lossBound({ ...base, holderHeardAtMs: heard, away });
      expect(bound.lostAtMostMs).toBeNull();
      expect(bound.lostUnknownReason).toBe(
        `this device was away from 1970-01-01T00:00:20.000Z to 1970-01-01T02:00:20.000Z and last heard the holder alive at ${new Date(heard).toISOString()}, as it went away: how long the holder went on writing is not known`,
      );
    }
  });

  test("a record said while the standby was away, heard as it came back (pushes queued for a paused process): not known", () => {
    const away = { fromMs: 20_000, untilMs: 40_000 };
    const bound = lossBound({ ...base, holderSaidAtMs: 35_000, holderHeardAtMs: 40_050, away });
    expect(bound).toEqual({
      lostAtMostMs: null,
      lostUnknownReason:
        "this device was away from 1970-01-01T00:00:20.000Z to 1970-01-01T00:00:40.000Z, and the holder's last presence it heard was said at 1970-01-01T00:00:35.000Z by the holder's clock: it may have been said while this device was away, and how long the holder went on writing is not known",
    });
    // Said after it was back: a fresh word, and the figure holds.
    expect(
      lossBound({ ...base, holderSaidAtMs: 41_000, holderHeardAtMs: 41_010, away }).lostAtMostMs,
    ).toBe(31_000);
  });

  test("a holder whose clock runs ahead cannot pass a record said while the standby was away off as fresh", () => {
    const away = { fromMs: 20_000, untilMs: 40_000 };
    // Said at 37 s by this clock, 42 s by the holder's, five seconds ahead.
    const stale = { ...base, holderSaidAtMs: 42_000, holderHeardAtMs: 40_050, away };
    expect(lossBound({ ...stale, holderClockAheadMs: 0 }).lostAtMostMs).toBe(32_000);
    expect(lossBound({ ...stale, holderClockAheadMs: 5_000 }).lostAtMostMs).toBeNull();
    // A guess of the lead errs low (by the requests' quickest transit): a record said just
    // as this device came back, by the guess, may have been said before.
    const justBack = { ...stale, holderSaidAtMs: 40_500, holderHeardAtMs: 40_600 };
    expect(lossBound({ ...justBack, holderClockAheadMs: 0 }).lostAtMostMs).toBeNull();
    // Its lead not known (this device restarted since it last heard the holder's requests):
    // as far ahead as a record is taken at, so not known unless heard before it went away.
    const unknown = { ...stale, holderClockAheadMs: undefined };
    expect(lossBound(unknown)).toEqual({
      lostAtMostMs: null,
      lostUnknownReason:
        "this device was away from 1970-01-01T00:00:20.000Z to 1970-01-01T00:00:40.000Z, and the holder's last presence it heard was said at 1970-01-01T00:00:42.000Z by the holder's clock, whose lead on this one's is not known: it may have been said while this device was away, and how long the holder went on writing is not known",
    });
    expect(
      lossBound({ ...unknown, holderSaidAtMs: 101_000, holderHeardAtMs: 101_010 }).lostAtMostMs,
    ).toBe(91_000);
    // Heard before this device went away (by more than a live window), whatever the clocks.
    expect(
      lossBound({ ...unknown, holderSaidAtMs: 15_000, holderHeardAtMs: 16_000 }).lostAtMostMs,
    ).toBe(5_000);
  });
});
