import { describe, expect, test } from "bun:test";
import { CRASH_LOOP_AFTER, CRASH_LOOP_REPORT_EVERY_MS, worthReporting } from "./crash-loop.ts";

describe("reporting a crash loop", () => {
  test("the first crashes and restarts are each reported", () => {
    const crashed = { state: "crashed" as const, atMs: 0 };
    expect(worthReporting(crashed, { state: "starting", restarts: 1 }, 1_000)).toBe(true);
    expect(worthReporting(crashed, { state: "crashed", restarts: 2 }, 1_000)).toBe(true);
    expect(worthReporting(undefined, { state: "crashed", restarts: 9 }, 1_000)).toBe(true);
  });

  test("past them, only the loop as it stands, every ten minutes, and what ends it", () => {
    const n = CRASH_LOOP_AFTER;
    const crashed = { state: "crashed" as const, atMs: 0 };
    expect(worthReporting(crashed, { state: "starting", restarts: n }, 30_000)).toBe(false);
    expect(worthReporting(crashed, { state: "crashed", restarts: n + 1 }, 60_000)).toBe(false);
    expect(
      worthReporting(crashed, { state: "crashed", restarts: n + 20 }, CRASH_LOOP_REPORT_EVERY_MS),
    ).toBe(true);
    expect(worthReporting(crashed, { state: "running", restarts: n + 1 }, 60_000)).toBe(true);
    expect(worthReporting(crashed, { state: "stopped", restarts: n + 1 }, 60_000)).toBe(true);
    expect(worthReporting(crashed, { state: "unhealthy", restarts: n + 1 }, 60_000)).toBe(true);
  });

  test("a crash after running again is reported", () => {
    const running = { state: "running" as const, atMs: 0 };
    expect(worthReporting(running, { state: "crashed", restarts: 50 }, 1_000)).toBe(true);
  });
});
