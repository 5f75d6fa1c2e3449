/**
 * When the convergence loop passes on its own: as often as asked while the zone has an app
 * (where it runs follows who is alive), and only as a safety net once it has none, when the
 * changes that give it work wake it (Convergence.soon).
 */
import { describe, expect, test } from "bun:test";
import { IDLE_PASS_MS, mayBeLive, nextPassMs } from "./convergence.ts";
import { testSpec } from "./test-spec.ts";

const times = { intervalMs: 2_000, liveWindowMs: 90_000 };

describe("the next pass of the convergence loop", () => {
  test("comes after intervalMs while an app is wanted anywhere, runs here or is swept", () => {
    const wanted = [testSpec("notes"), testSpec("old", { desired: "removed" })];
    expect(nextPassMs({ specs: wanted, running: 0, sweeping: false }, times)).toBe(2_000);
    const stopped = [testSpec("notes", { desired: "stopped" })];
    expect(nextPassMs({ specs: stopped, running: 0, sweeping: false }, times)).toBe(2_000);
    // Its spec gone or removed, an app still running here is halted by the next pass.
    expect(nextPassMs({ specs: [], running: 1, sweeping: false }, times)).toBe(2_000);
    expect(nextPassMs({ specs: [], running: 0, sweeping: true }, times)).toBe(2_000);
  });

  test("comes after IDLE_PASS_MS with no app, or only removed ones, within half a live window", () => {
    const removed = [testSpec("old", { desired: "removed" })];
    const long = { intervalMs: 2_000, liveWindowMs: 10 * 60_000 };
    expect(nextPassMs({ specs: [], running: 0, sweeping: false }, long)).toBe(IDLE_PASS_MS);
    expect(nextPassMs({ specs: removed, running: 0, sweeping: false }, long)).toBe(IDLE_PASS_MS);
    // The default live window (three heartbeats of 30 s): a pass never finds what it heard
    // stale; nor with a short one (tests, labs).
    expect(nextPassMs({ specs: removed, running: 0, sweeping: false }, times)).toBe(45_000);
    const short = { intervalMs: 300, liveWindowMs: 3_000 };
    expect(nextPassMs({ specs: [], running: 0, sweeping: false }, short)).toBe(1_500);
    // And never more often than when there is work.
    const shorter = { intervalMs: 300, liveWindowMs: 300 };
    expect(nextPassMs({ specs: [], running: 0, sweeping: false }, shorter)).toBe(300);
  });
});

describe("who may be live, for an app with data", () => {
  const nas = { name: "nas" };
  const laptop = { name: "laptop" };
  const members = [nas, laptop];
  const windowMs = 90_000;
  const nowMs = 10_000_000;
  /** The members that may be live when only `laptop`'s presence is fresh. */
  const live = (
    heard: Record<string, number>,
    more: { upSinceMs?: number; admittedAt?: number } = {},
  ) =>
    mayBeLive(
      { members, live: [laptop] },
      {
        nowMs,
        windowMs,
        upSinceMs: more.upSinceMs ?? 0,
        admittedAtMs: () => more.admittedAt,
        heardAtMs: (name) => heard[name],
      },
    ).map((member) => member.name);

  test("a member whose presence is stale is gone, unless this device heard from it within the window", () => {
    expect(live({})).toEqual(["laptop"]);
    expect(live({ nas: nowMs - windowMs - 1 })).toEqual(["laptop"]);
    // Its app data arriving here a moment ago, over a full uplink that holds its presence back.
    expect(live({ nas: nowMs - 1_000 })).toEqual(["nas", "laptop"]);
  });

  test("a hearing dated ahead of this device's clock (the clock set back) counts only within the window", () => {
    expect(live({ nas: nowMs + 1_000 })).toEqual(["nas", "laptop"]);
    expect(live({ nas: nowMs + windowMs + 1 })).toEqual(["laptop"]);
  });

  test("every member, just after this device came up or a member joined", () => {
    expect(live({}, { upSinceMs: nowMs - 1_000 })).toEqual(["nas", "laptop"]);
    expect(live({}, { admittedAt: nowMs - 1_000 })).toEqual(["nas", "laptop"]);
  });
});
