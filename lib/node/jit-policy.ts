/**
 * How eagerly JavaScriptCore compiles a daemon's JavaScript follows how busy the daemon is.
 *
 * An idle daemon runs the same few functions every few seconds (its facts, heartbeats, the
 * convergence and anti-entropy passes), often enough over minutes for the JIT to compile
 * them, tier by tier, on threads of its own. Compiling them cost more than it saved:
 * measured beside the normal policy, taking turns, an idle daemon that asks the JIT to wait
 * a thousand times longer held 46.4–46.6 MB at 10 s against 51.1–51.4 (a fresh zone,
 * bench/memory.ts: the JIT's compilers are never touched), and on two devices with an app
 * each daemon spent 220–360 ms of CPU a minute against 420–630, holding 55–57 MB against
 * 61–65 (docs/performance.md). The interpreter runs such work well enough.
 *
 * Work is another matter: a gateway under load, a merge, a backup want their hot functions
 * compiled. So a daemon starts with the idle policy and reads its CPU every two seconds;
 * a fifth of a core or more over that window (an idle daemon spends under 1%) brings the
 * normal policy back at once (hot functions were compiled within 20,000 calls of the switch,
 * measured), and it stays until the daemon has been quiet for ten minutes. Then the
 * compiled code is released (`Bun.shrink`) and the idle policy is back.
 *
 * A command's start has its own policy (normalJitAfterStart), which the daemon's replaces.
 */
import type { Log } from "../log.ts";
import { releaseCompiledCode } from "./start-up-code.ts";

/** JavaScriptCore's tier-up thresholds, times this, while the daemon is idle. */
export const IDLE_JIT_SCALE = 1000;
/** The normal policy. */
export const NORMAL_JIT_SCALE = 1;

const SAMPLE_EVERY_MS = 2_000;
/** A window with this share of one core or more is work. */
const BUSY_CPU_SHARE = 0.2;
/** A window under this share is quiet. */
const QUIET_CPU_SHARE = 0.05;
const IDLE_AFTER_QUIET_MS = 10 * 60_000;

/**
 * The binary starts with the JIT ten times slower to compile (`--compile-jit-policy` in the
 * Justfile): a command's start runs each function a few times, and compiling it cost more
 * than it saved (`bucky status` took 2-5 ms less CPU). What runs longer than this is doing
 * its real work (a backup, an app's door): from then on, the normal policy.
 */
export const NORMAL_JIT_AFTER_START_MS = 100;
/**
 * The start's timer, which the daemon cancels. Module state, as the policy itself is: a JIT
 * policy belongs to the process (its main thread's VM), and the command that follows its load
 * runs well after cmd/main.ts set the timer.
 */
let startPolicy: ReturnType<typeof setTimeout> | undefined;

/** Turns to the normal policy once a command's start is over (cmd/main.ts, first thing). */
export function normalJitAfterStart(): void {
  startPolicy = setTimeout(
    () => Bun.unsafe.setJITPolicy(NORMAL_JIT_SCALE),
    NORMAL_JIT_AFTER_START_MS,
  );
  startPolicy.unref();
}

export type JitMode = "idle" | "busy";

export interface JitPolicyOptions {
  readonly log: Log;
  /** Sets the scale of the JIT's thresholds (Bun.unsafe.setJITPolicy). */
  readonly setScale?: (scale: number) => void;
  /** Lets go of all compiled code (Bun.shrink). */
  readonly release?: () => void;
}

/** The policy's state: `sample` it with the time and the CPU the process has spent. */
export class JitPolicy {
  private mode: JitMode = "idle";
  private last: { atMs: number; cpuMs: number } | undefined;
  /** When the quiet that may end the busy mode began. */
  private quietFrom: number | undefined;
  private readonly setScale: (scale: number) => void;
  private readonly release: () => void;

  constructor(private readonly options: JitPolicyOptions) {
    this.setScale = options.setScale ?? ((scale) => Bun.unsafe.setJITPolicy(scale));
    this.release = options.release ?? releaseCompiledCode;
    this.setScale(IDLE_JIT_SCALE);
  }

  get current(): JitMode {
    return this.mode;
  }

  /** Reads a window: from the last sample to this one (`cpuMs`: all threads, user and system). */
  sample(atMs: number, cpuMs: number): void {
    const last = this.last;
    this.last = { atMs, cpuMs };
    if (!last || atMs <= last.atMs) return;
    const share = (cpuMs - last.cpuMs) / (atMs - last.atMs);
    if (this.mode === "idle") {
      if (share < BUSY_CPU_SHARE) return;
      this.mode = "busy";
      this.quietFrom = undefined;
      this.setScale(NORMAL_JIT_SCALE);
      this.options.log.info("busy: the JIT compiles as usual", { cpu: percent(share) });
      return;
    }
    if (share >= QUIET_CPU_SHARE) {
      this.quietFrom = undefined;
      return;
    }
    this.quietFrom ??= last.atMs;
    if (atMs - this.quietFrom < IDLE_AFTER_QUIET_MS) return;
    this.mode = "idle";
    this.setScale(IDLE_JIT_SCALE);
    this.release();
    this.options.log.info("idle: compiled code released, the JIT waits", {
      quietMinutes: Math.round((atMs - this.quietFrom) / 60_000),
    });
  }
}

/**
 * Starts the idle policy in this process and follows its load from now on, every two
 * seconds, for as long as the process runs (a timer that keeps no process alive). A start
 * heavy enough to be work (a very large zone's check) leaves it busy for its first ten minutes.
 */
export function followLoadWithJit(log: Log): void {
  clearTimeout(startPolicy);
  const policy = new JitPolicy({ log });
  const read = () => {
    const { user, system } = process.cpuUsage();
    policy.sample(performance.now(), (user + system) / 1000);
  };
  read();
  setInterval(read, SAMPLE_EVERY_MS).unref();
}

function percent(share: number): string {
  return `${Math.round(share * 100)}%`;
}
