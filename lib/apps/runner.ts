/**
 * Runs one app on this device and keeps it running: starts it through its launcher (a
 * process in its sandbox, lib/apps/process-launcher.ts, or a container,
 * lib/images/container-launcher.ts), opens the door the daemon reaches it through, checks
 * its health, restarts it when it dies with a growing but bounded delay, and reports every
 * change of state. Its output goes to a log file beside its data.
 */

import {
  closeSync,
  existsSync,
  openSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import type { Subprocess } from "bun";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { Log, LogFields } from "../log.ts";
import { AppOutput } from "./app-output.ts";
import type { AppDoor } from "./door.ts";
import type { RunState } from "./spec.ts";

/** The first restart waits this long (unless told); each next one twice as long, up to the cap. */
const FIRST_RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;
/** A process that stays up this long has recovered: the next failure starts over at 1 s. */
const STABLE_MS = 30_000;
/** An app without a health check counts as running once it stays up this long. */
const NO_CHECK_RUNNING_MS = 1000;
/**
 * How long an ended run's output may take to reach its log file (before its last line is
 * read for the error, or the daemon stops): a process the app left behind can hold it open.
 */
const OUTPUT_SETTLE_MS = 1000;

/** One run of an app, as its launcher started it. */
export interface Launched {
  /** The process the runner watches: when it ends, the app has ended. */
  readonly child: Subprocess;
  /** Finishes setting the run up once its process exists (its network, its door); throws saying why it could not. */
  ready(): Promise<void>;
  /** How the daemon reaches the app, once ready (an app that answers HTTP). */
  door(): AppDoor | undefined;
  /** Asks the app to end, then makes it; resolves once it has. */
  end(): Promise<void>;
  /** Lets go of what the run held (its network, its forwarder) once it has ended. */
  release(): void;
  /** What the log line of its start says of it. */
  readonly fields: LogFields;
}

/** How an app is started: in its sandbox, or in a container. */
export interface AppLauncher {
  /** Whether the app runs isolated (a sandbox or a container). */
  readonly sandboxed: boolean;
  /** Makes what a run needs ready (its data and sandbox directories); throws saying why it cannot. */
  prepare(): void;
  /**
   * Starts a run, giving its processes' output (spawned with stdout and stderr "pipe") to
   * `output`; `exited` is told when its process ends. Throws saying why it could not start.
   */
  spawn(
    output: AppOutput,
    exited: (child: Subprocess, code: number | null, signal: number | string | null) => void,
  ): Promise<Launched>;
  /** What starts, for an error: the program ("bun"), or "its container". */
  readonly program: string;
  /** What ends when the app does, for an error: "the process", "the container". */
  readonly ends: string;
}

/** A change of an app's state, as its runner reports it. */
export interface RunnerChange {
  readonly state: RunState;
  readonly url: string | null;
  /** Failures so far, of any kind: each was followed by a restart. */
  readonly restarts: number;
  /**
   * Of those, the runs that were started and ended (the process exited, or could not be
   * made ready): what the version itself did. A package not fetched, or a directory not
   * made, is the device's lack, not a crash of the version (lib/apps/upgrade-rollback.ts).
   */
  readonly exits: number;
  readonly error: string | null;
}

export interface RunnerOptions {
  readonly app: string;
  readonly health: AppManifest["health"];
  readonly launcher: AppLauncher;
  readonly paths: { readonly logFile: string; readonly pidFile: string };
  readonly log: Log;
  /** Told of each change of state, with the app's URL and what went wrong. */
  readonly report: (change: RunnerChange) => void;
  /** Told of the door to the app when it opens, and with undefined when it closes. */
  readonly door: (door: AppDoor | undefined) => void;
  /** Told when the app's output could not be written to its log file (a full disk). */
  readonly outputFailed?: (error: Error) => void;
  /** How long the first restart waits (FIRST_RESTART_MS; shorter in tests that wait out restarts). */
  readonly firstRestartMs?: number;
}

export class AppRunner {
  private state: RunState = "pending";
  private run: Launched | undefined;
  private door: AppDoor | undefined;
  private url: string | null = null;
  private restarts = 0;
  private exits = 0;
  private failuresInARow = 0;
  /** When the run started, by performance.now(): the wall clock set on or back moves it not. */
  private startedAt = 0;
  private error: string | null = null;
  private stopped = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();
  private readonly output: AppOutput;

  constructor(private readonly options: RunnerOptions) {
    this.output = new AppOutput(options.paths.logFile, {
      failed: (error) => options.outputFailed?.(error),
    });
  }

  get sandboxed(): boolean {
    return this.options.launcher.sandboxed;
  }

  /** Reports pending, then starts the app once `prepare` (fetching its package) is done. */
  async start(prepare: () => Promise<void>): Promise<void> {
    this.setState("pending", null);
    try {
      await prepare();
    } catch (error) {
      this.fail(`cannot prepare the app: ${(error as Error).message}`, () => this.start(prepare));
      return;
    }
    await this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const run = this.run;
    if (run && run.child.exitCode === null && run.child.signalCode === null) await run.end();
    await this.output.finish(OUTPUT_SETTLE_MS);
    this.release();
    rmSync(this.options.paths.pidFile, { force: true });
    this.setState("stopped", null, true);
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    const { app, launcher, paths } = this.options;
    try {
      launcher.prepare();
    } catch (error) {
      this.fail(`cannot prepare the app's directories: ${(error as Error).message}`, () =>
        this.launch(),
      );
      return;
    }
    let run: Launched;
    try {
      run = await launcher.spawn(this.output, (child, code, signal) =>
        this.exited(child, code, signal),
      );
    } catch (error) {
      this.fail(`cannot start ${launcher.program}: ${(error as Error).message}`, () =>
        this.launch(),
      );
      return;
    }
    const child = run.child;
    this.run = run;
    writeFileSync(paths.pidFile, `${child.pid}\n`);
    this.startedAt = performance.now();
    if (this.stopped) {
      await this.stop();
      return;
    }
    try {
      await run.ready();
    } catch (error) {
      if (this.run !== run) return;
      this.run = undefined;
      await run.end();
      rmSync(paths.pidFile, { force: true });
      run.release();
      await this.output.finish(OUTPUT_SETTLE_MS);
      const last = lastLine(paths.logFile);
      this.fail(
        `${(error as Error).message}${last ? `; its last output: ${last}` : ""}`,
        () => this.launch(),
        { exited: true },
      );
      return;
    }
    if (this.run !== run || this.stopped) return;
    this.door = run.door();
    if (this.door) this.options.door(this.door);
    this.url = this.door?.url ?? null;
    this.setState("starting", null);
    this.options.log.info("app started", {
      app,
      pid: child.pid,
      url: this.url ?? undefined,
      sandboxed: this.sandboxed,
      ...run.fields,
    });
    this.watch(run);
  }

  /** Health checks (or, without one, a short wait) while this run lives. */
  private watch(run: Launched): void {
    const health = this.options.health;
    const { child } = run;
    const alive = () =>
      !this.stopped && this.run === run && child.exitCode === null && child.signalCode === null;
    if (!health) {
      this.later(NO_CHECK_RUNNING_MS, () => {
        if (alive()) this.setState("running", null);
      });
      return;
    }
    const check = async () => {
      if (!alive()) return;
      const door = this.door;
      const problem = door
        ? await probe(door, health.path, health.timeoutMs)
        : "it has no HTTP port to check";
      if (!alive()) return;
      if (problem === undefined) {
        if (this.state !== "running") this.setState("running", null);
      } else if (this.state === "running") {
        this.setState("unhealthy", `health check failed: ${problem}`);
      } else if (this.state === "starting" && performance.now() - this.startedAt > health.graceMs) {
        this.setState(
          "unhealthy",
          `not healthy ${health.graceMs / 1000} s after starting: ${problem}`,
        );
      }
      if (performance.now() - this.startedAt > STABLE_MS && this.state === "running")
        this.failuresInARow = 0;
      this.later(health.intervalMs, check);
    };
    this.later(Math.min(200, health.intervalMs), check);
  }

  private async exited(
    child: Subprocess,
    code: number | null,
    signal: number | string | null,
  ): Promise<void> {
    if (this.run?.child !== child) return;
    rmSync(this.options.paths.pidFile, { force: true });
    if (this.stopped) return;
    this.release();
    if (performance.now() - this.startedAt > STABLE_MS) this.failuresInARow = 0;
    const how = signal !== null ? `was killed by signal ${signal}` : `exited with code ${code}`;
    await this.output.finish(OUTPUT_SETTLE_MS);
    const last = lastLine(this.options.paths.logFile);
    this.fail(
      `${this.options.launcher.ends} ${how}${last ? `; its last output: ${last}` : ""}`,
      () => this.launch(),
      { exited: true },
    );
  }

  /** Lets go of what the last run had: its door, its network. */
  private release(): void {
    if (this.door) {
      this.options.door(undefined);
      this.door.close();
      this.door = undefined;
    }
    this.run?.release();
    this.run = undefined;
  }

  /** Reports the failure and tries again after the current backoff; `exited`: a run that was started ended. */
  private fail(
    reason: string,
    retry: () => Promise<void> | void,
    how: { readonly exited: boolean } = { exited: false },
  ): void {
    if (this.stopped) return;
    this.failuresInARow++;
    this.restarts++;
    if (how.exited) this.exits++;
    const firstMs = this.options.firstRestartMs ?? FIRST_RESTART_MS;
    const delayMs = Math.min(firstMs * 2 ** (this.failuresInARow - 1), MAX_RESTART_MS);
    this.setState("crashed", `${reason} (restarting in ${delayMs / 1000} s)`);
    this.options.log.warn("app failed", {
      app: this.options.app,
      error: reason,
      restartInMs: delayMs,
    });
    this.later(delayMs, retry);
  }

  private setState(state: RunState, error: string | null, force = false): void {
    if (this.stopped && !force) return;
    if (state === this.state && error === this.error && state !== "starting") return;
    this.state = state;
    this.error = error;
    this.options.report({
      state,
      url: state === "stopped" ? null : this.url,
      restarts: this.restarts,
      exits: this.exits,
      error,
    });
  }

  private later(ms: number, work: () => unknown): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, ms);
    this.timers.add(timer);
  }
}

/**
 * Why the app is not healthy, or undefined when `path` answers 2xx in time. Only its status
 * counts: its body is let go unread, since the app may send one without end (read whole,
 * it would fill the daemon's memory until the time ran out).
 */
export async function probe(
  door: AppDoor,
  path: string,
  timeoutMs: number,
): Promise<string | undefined> {
  try {
    const response = await door.fetch(path, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel().catch(() => {});
    return response.ok ? undefined : `HTTP ${response.status}`;
  } catch (error) {
    return (error as Error).name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : (error as Error).message;
  }
}

/** The last non-empty line the app wrote, for an error message. */
export function lastLine(path: string): string | undefined {
  return tail(path, 1)[0];
}

/** Up to the last `lines` lines of a log file. */
export function tail(path: string, lines: number): string[] {
  if (!existsSync(path)) return [];
  const size = statSync(path).size;
  const length = Math.min(size, 64 * 1024);
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, "r");
  try {
    readSync(fd, buffer, 0, length, size - length);
  } finally {
    closeSync(fd);
  }
  return buffer
    .toString("utf8")
    .split("\n")
    .map((line) => line.trimEnd())
    .filter(Boolean)
    .slice(-lines);
}
