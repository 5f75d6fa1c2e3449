import { describe, expect, test } from "bun:test";
import { compareHlc, type Hlc, MAX_HLC_COUNTER, nextHlc, observeHlc } from "./hlc.ts";

const NOW = 1_767_225_600_000;
const MAX_AHEAD_MS = 60_000;

describe("nextHlc", () => {
  test("starts at the wall time with counter 0", () => {
    expect(nextHlc(undefined, NOW)).toEqual({ ms: NOW, counter: 0 });
  });

  test("follows the wall clock when it has moved on", () => {
    expect(nextHlc({ ms: NOW - 5, counter: 9 }, NOW)).toEqual({ ms: NOW, counter: 0 });
  });

  test("counts within a millisecond the wall clock has not left", () => {
    expect(nextHlc({ ms: NOW, counter: 0 }, NOW)).toEqual({ ms: NOW, counter: 1 });
    expect(nextHlc({ ms: NOW, counter: 41 }, NOW)).toEqual({ ms: NOW, counter: 42 });
  });

  test("keeps counting when the wall clock goes back", () => {
    expect(nextHlc({ ms: NOW, counter: 3 }, NOW - 10_000)).toEqual({ ms: NOW, counter: 4 });
  });

  test("spills a full counter into the next millisecond instead of wrapping", () => {
    expect(nextHlc({ ms: NOW, counter: MAX_HLC_COUNTER - 1 }, NOW)).toEqual({
      ms: NOW,
      counter: MAX_HLC_COUNTER,
    });
    expect(nextHlc({ ms: NOW, counter: MAX_HLC_COUNTER }, NOW)).toEqual({
      ms: NOW + 1,
      counter: 0,
    });
    expect(nextHlc({ ms: NOW, counter: MAX_HLC_COUNTER }, NOW - 1)).toEqual({
      ms: NOW + 1,
      counter: 0,
    });
  });
});

describe("observeHlc", () => {
  test("moves past a remote clock that is ahead, within the bound", () => {
    const remote = { ms: NOW + 1_000, counter: 5 };
    expect(observeHlc({ ms: NOW, counter: 0 }, remote, NOW, MAX_AHEAD_MS)).toEqual({
      ms: NOW + 1_000,
      counter: 6,
    });
    expect(observeHlc(undefined, remote, NOW, MAX_AHEAD_MS)).toEqual({
      ms: NOW + 1_000,
      counter: 6,
    });
  });

  test("accepts a remote exactly at the bound and refuses one millisecond more", () => {
    const atBound = { ms: NOW + MAX_AHEAD_MS, counter: 0 };
    expect(observeHlc(undefined, atBound, NOW, MAX_AHEAD_MS)).toEqual({
      ms: NOW + MAX_AHEAD_MS,
      counter: 1,
    });
    const beyond = { ms: NOW + MAX_AHEAD_MS + 1, counter: 0 };
    expect(observeHlc(undefined, beyond, NOW, MAX_AHEAD_MS)).toBeUndefined();
    expect(observeHlc({ ms: NOW, counter: 0 }, beyond, NOW, MAX_AHEAD_MS)).toBeUndefined();
  });

  test("takes the wall time when both clocks are behind it", () => {
    const remote = { ms: NOW - 100, counter: 7 };
    expect(observeHlc({ ms: NOW - 50, counter: 2 }, remote, NOW, MAX_AHEAD_MS)).toEqual({
      ms: NOW,
      counter: 0,
    });
  });

  test("counts past the local clock when it is the later one", () => {
    const last = { ms: NOW + 10, counter: 4 };
    const remote = { ms: NOW + 10, counter: 2 };
    expect(observeHlc(last, remote, NOW, MAX_AHEAD_MS)).toEqual({ ms: NOW + 10, counter: 5 });
  });

  test("counts past a remote with the same millisecond and a higher counter", () => {
    const last = { ms: NOW, counter: 1 };
    const remote = { ms: NOW, counter: 9 };
    expect(observeHlc(last, remote, NOW, MAX_AHEAD_MS)).toEqual({ ms: NOW, counter: 10 });
  });

  test("spills a remote's full counter into the next millisecond", () => {
    const remote = { ms: NOW, counter: MAX_HLC_COUNTER };
    expect(observeHlc(undefined, remote, NOW, MAX_AHEAD_MS)).toEqual({ ms: NOW + 1, counter: 0 });
  });
});

describe("compareHlc", () => {
  test("orders by milliseconds, then by counter", () => {
    const sorted: Hlc[] = [
      { ms: 1, counter: 0 },
      { ms: 1, counter: 1 },
      { ms: 1, counter: MAX_HLC_COUNTER },
      { ms: 2, counter: 0 },
    ];
    for (let i = 0; i < sorted.length; i++) {
      for (let j = 0; j < sorted.length; j++) {
        const a = sorted[i] as Hlc;
        const b = sorted[j] as Hlc;
        expect(Math.sign(compareHlc(a, b))).toBe(Math.sign(i - j));
      }
    }
  });
});
