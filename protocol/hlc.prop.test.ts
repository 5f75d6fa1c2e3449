import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compareHlc, type Hlc, MAX_HLC_COUNTER, nextHlc, observeHlc } from "./hlc.ts";

// Wall times well inside 48 bits, so a spill never leaves the range.
const BASE_MS = 1_767_225_600_000;
const wallMs = fc.integer({ min: BASE_MS - 10_000, max: BASE_MS + 10_000 });
const hlc = fc.record({
  ms: wallMs,
  counter: fc.oneof(
    fc.nat(MAX_HLC_COUNTER),
    fc.constantFrom(0, MAX_HLC_COUNTER - 1, MAX_HLC_COUNTER),
  ),
});
const maxAheadMs = fc.nat(20_000);

describe("nextHlc", () => {
  test("strictly increases over any sequence of wall times, backwards jumps included", () => {
    fc.assert(
      fc.property(
        fc.option(hlc, { nil: undefined }),
        fc.array(wallMs, { maxLength: 50 }),
        (start, times) => {
          let last = start;
          for (const nowMs of times) {
            const next = nextHlc(last, nowMs);
            if (last !== undefined) expect(compareHlc(next, last)).toBeGreaterThan(0);
            expect(next.ms).toBeGreaterThanOrEqual(nowMs);
            expect(next.counter).toBeGreaterThanOrEqual(0);
            expect(next.counter).toBeLessThanOrEqual(MAX_HLC_COUNTER);
            last = next;
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("is the smallest timestamp after both the last one and the wall time", () => {
    fc.assert(
      fc.property(hlc, wallMs, (last, nowMs) => {
        const next = nextHlc(last, nowMs);
        const floor: Hlc = { ms: nowMs, counter: 0 };
        expect(compareHlc(next, floor)).toBeGreaterThanOrEqual(0);
        // Nothing fits between `last` and `next` that is also at or after the wall time.
        const justAfterLast: Hlc =
          last.counter < MAX_HLC_COUNTER
            ? { ms: last.ms, counter: last.counter + 1 }
            : { ms: last.ms + 1, counter: 0 };
        const expected = compareHlc(justAfterLast, floor) >= 0 ? justAfterLast : floor;
        expect(next).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe("observeHlc", () => {
  test("is after both inputs, or undefined exactly when the remote is too far ahead", () => {
    fc.assert(
      fc.property(
        fc.option(hlc, { nil: undefined }),
        hlc,
        wallMs,
        maxAheadMs,
        (last, remote, nowMs, aheadMs) => {
          const observed = observeHlc(last, remote, nowMs, aheadMs);
          if (remote.ms > nowMs + aheadMs) {
            expect(observed).toBeUndefined();
            return;
          }
          if (observed === undefined) throw new Error("refused a remote within the bound");
          expect(compareHlc(observed, remote)).toBeGreaterThan(0);
          if (last !== undefined) expect(compareHlc(observed, last)).toBeGreaterThan(0);
          expect(observed.ms).toBeGreaterThanOrEqual(nowMs);
          expect(observed.counter).toBeLessThanOrEqual(MAX_HLC_COUNTER);
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("a clock fed any mix of local events and remote stamps never goes back", () => {
    const event = fc.oneof(
      fc.record({ kind: fc.constant("local" as const), nowMs: wallMs }),
      fc.record({ kind: fc.constant("remote" as const), nowMs: wallMs, remote: hlc }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        let last: Hlc | undefined;
        for (const item of events) {
          const next =
            item.kind === "local"
              ? nextHlc(last, item.nowMs)
              : observeHlc(last, item.remote, item.nowMs, 5_000);
          if (next === undefined) continue;
          if (last !== undefined) expect(compareHlc(next, last)).toBeGreaterThan(0);
          last = next;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("compareHlc", () => {
  test("is a total order consistent with (ms, counter)", () => {
    fc.assert(
      fc.property(hlc, hlc, hlc, (a, b, c) => {
        expect(Math.sign(compareHlc(a, b)) + Math.sign(compareHlc(b, a))).toBe(0);
        expect(compareHlc(a, a)).toBe(0);
        if (compareHlc(a, b) <= 0 && compareHlc(b, c) <= 0) {
          expect(compareHlc(a, c)).toBeLessThanOrEqual(0);
        }
        const expected = a.ms !== b.ms ? Math.sign(a.ms - b.ms) : Math.sign(a.counter - b.counter);
        expect(Math.sign(compareHlc(a, b))).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});
