import { describe, expect, test } from "bun:test";
import { createLog } from "../log.ts";
import { IDLE_JIT_SCALE, JitPolicy, NORMAL_JIT_SCALE } from "./jit-policy.ts";

/** Two-second windows in a minute (the daemon samples every two seconds). */
const A_MINUTE = 30;

/** A policy whose scales, releases and log lines are recorded; `window(share)` feeds it windows. */
function watched() {
  const scales: number[] = [];
  const lines: string[] = [];
  let releases = 0;
  const log = createLog({ level: "info", write: (line) => lines.push(line) });
  const policy = new JitPolicy({
    log,
    setScale: (scale) => scales.push(scale),
    release: () => releases++,
  });
  let atMs = 0;
  let cpuMs = 0;
  policy.sample(atMs, cpuMs);
  /** A window of `ms` in which the process spent `share` of a core. */
  const window = (share: number, ms = 2_000) => {
    atMs += ms;
    cpuMs += share * ms;
    policy.sample(atMs, cpuMs);
  };
  return { policy, scales, lines, releases: () => releases, window };
}

describe("the JIT policy follows the daemon's load", () => {
  test("starts idle: the JIT waits a thousand times longer", () => {
    const { policy, scales } = watched();
    expect(policy.current).toBe("idle");
    expect(scales).toEqual([IDLE_JIT_SCALE]);
  });

  test("an idle daemon's own work (under 1% of a core) leaves it idle", () => {
    const { policy, scales, window } = watched();
    for (let i = 0; i < 300; i++) window(i % 3 === 0 ? 0.009 : 0.001);
    expect(policy.current).toBe("idle");
    expect(scales).toEqual([IDLE_JIT_SCALE]);
  });

  test("a window of real work brings the normal policy back at once, and says so", () => {
    const { policy, scales, lines, window } = watched();
    window(0.01);
    window(0.6);
    expect(policy.current).toBe("busy");
    expect(scales).toEqual([IDLE_JIT_SCALE, NORMAL_JIT_SCALE]);
    expect(lines.filter((line) => line.includes("busy"))).toHaveLength(1);
    expect(lines.join("\n")).toContain("60%");
  });

  test("stays busy through pauses shorter than ten minutes", () => {
    const { policy, scales, window } = watched();
    window(1);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 9 * A_MINUTE; i++) window(0.01); // nine quiet minutes
      window(0.5);
    }
    expect(policy.current).toBe("busy");
    expect(scales).toEqual([IDLE_JIT_SCALE, NORMAL_JIT_SCALE]);
  });

  test("after ten quiet minutes, releases its compiled code and is idle again", () => {
    const { policy, scales, lines, releases, window } = watched();
    window(1);
    for (let i = 0; i < 10 * A_MINUTE - 1; i++) window(0.01);
    expect(policy.current).toBe("busy");
    expect(releases()).toBe(0);
    window(0.01);
    expect(policy.current).toBe("idle");
    expect(releases()).toBe(1);
    expect(scales).toEqual([IDLE_JIT_SCALE, NORMAL_JIT_SCALE, IDLE_JIT_SCALE]);
    expect(lines.filter((line) => line.includes("idle"))).toHaveLength(1);
    // And busy again with the next work.
    window(0.3);
    expect(policy.current).toBe("busy");
  });

  test("a window between quiet and work neither ends the busy mode nor counts as quiet", () => {
    const { policy, window } = watched();
    window(1);
    for (let i = 0; i < 20 * A_MINUTE; i++) window(i % (2 * A_MINUTE) === 0 ? 0.1 : 0.01);
    expect(policy.current).toBe("busy");
  });

  test("a clock that did not move gives no window", () => {
    const { policy } = watched();
    policy.sample(0, 10_000);
    expect(policy.current).toBe("idle");
  });
});
