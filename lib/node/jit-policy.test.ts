import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createLog } from "../log.ts";
import {
  IDLE_JIT_SCALE,
  JitPolicy,
  NORMAL_JIT_AFTER_START_MS,
  NORMAL_JIT_SCALE,
} from "./jit-policy.ts";

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

/**
 * In a fresh Bun that starts as the binary does (the JIT ten times slower, then
 * normalJitAfterStart, as cmd/main.ts) and, as a daemon, follows its load: how many calls a
 * small function takes to be optimized once the start's timer has had its turn. The JIT
 * compiles on the calling thread (BUN_JSC_useConcurrentJIT=0), so the count is exact, not a
 * race with the JIT's own threads.
 */
async function callsUntilOptimized(as: "command" | "daemon"): Promise<number> {
  const script = `
    import { noInline, numberOfDFGCompiles } from "bun:jsc";
    import { createLog } from ${JSON.stringify(join(import.meta.dir, "../log.ts"))};
    import { followLoadWithJit, normalJitAfterStart } from ${JSON.stringify(join(import.meta.dir, "jit-policy.ts"))};
    Bun.unsafe.setJITPolicy(10);
    normalJitAfterStart();
    if (${as === "daemon"}) followLoadWithJit(createLog({ level: "warn", write: () => {} }));
    // Set after the start's timer with the same delay, so it fires after that one.
    await new Promise((resolve) => setTimeout(resolve, ${NORMAL_JIT_AFTER_START_MS}));
    function hot(x) { return ((x * 3) ^ (x >> 2)) % 7; }
    function drive(n) { let t = 0; for (let i = 0; i < n; i++) t += hot(i); return t; }
    noInline(hot);
    noInline(drive);
    let calls = 0;
    while (numberOfDFGCompiles(hot) === 0 && calls < 10_000_000) { drive(100); calls += 100; }
    console.log(calls);
  `;
  const child = Bun.spawn([process.execPath, "-e", script], {
    env: { ...process.env, BUN_JSC_useConcurrentJIT: "0" },
    stdout: "pipe",
    stderr: "inherit",
  });
  const [out, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(code).toBe(0);
  return Number(out.trim());
}

describe("the JIT policy in a process", () => {
  test("a daemon stays idle past the command's start, whose timer would make the JIT normal", async () => {
    const command = await callsUntilOptimized("command");
    const daemon = await callsUntilOptimized("daemon");
    // A command is at the normal policy by then (at the start's, ten times slower, it took
    // about 1,100 calls here; at the normal one, 100); the daemon's idle one waits a
    // thousand times longer (about 109,000).
    expect(command).toBeLessThan(1_000);
    expect(daemon).toBeGreaterThan(100 * command);
  }, 30_000);
});
