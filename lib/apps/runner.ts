/**
 * Runs one app on this device and keeps it running: starts its process (inside
 * bubblewrap when this device has it), checks its health, restarts it when it dies with
 * a growing but bounded delay, and reports every change of state. Its output goes to a
 * log file beside its data.
 */

import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { Log } from "../log.ts";
import type { RunState } from "./spec.ts";

/** The first restart waits this long; each next one twice as long, up to the cap. */
const FIRST_RESTART_MS = 1000;
const MAX_RESTART_MS = 30_000;
/** A process that stays up this long has recovered: the next failure starts over at 1 s. */
const STABLE_MS = 30_000;
/** An app without a health check counts as running once it stays up this long. */
const NO_CHECK_RUNNING_MS = 1000;
const STOP_GRACE_MS = 5000;
const LOG_ROTATE_BYTES = 5 * 1024 * 1024;

export interface AppPaths {
  /** The unpacked package: the app's working directory, read-only to it. */
  readonly packageDir: string;
  /** Where the app keeps its data: the only place it may write. */
  readonly dataDir: string;
  readonly logFile: string;
  readonly pidFile: string;
}

export interface RunnerOptions {
  readonly app: string;
  readonly manifest: AppManifest;
  readonly paths: AppPaths;
  /** Hidden from the app under the sandbox: bucky's home, with its keys and state. */
  readonly hiddenDir: string;
  /** The bubblewrap binary, when this device can sandbox apps. */
  readonly bwrap: string | undefined;
  /** What runs an app whose command starts with `bun`: bucky's own runtime. */
  readonly runtime: string;
  /** BUCKY_* variables for the app (its token, ids, data dir). */
  readonly env: Readonly<Record<string, string>>;
  readonly log: Log;
  /** Told of each change of state, with the app's URL and what went wrong. */
  readonly report: (change: {
    state: RunState;
    url: string | null;
    restarts: number;
    error: string | null;
  }) => void;
}

export class AppRunner {
  private state: RunState = "pending";
  private child: Subprocess | undefined;
  private url: string | null = null;
  private restarts = 0;
  private failuresInARow = 0;
  private startedAt = 0;
  private error: string | null = null;
  private stopped = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly options: RunnerOptions) {}

  get sandboxed(): boolean {
    return this.options.bwrap !== undefined;
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
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const exited = await Promise.race([
        child.exited.then(() => true),
        Bun.sleep(STOP_GRACE_MS).then(() => false),
      ]);
      if (!exited) {
        child.kill("SIGKILL");
        await child.exited;
      }
    }
    rmSync(this.options.paths.pidFile, { force: true });
    this.setState("stopped", null, true);
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    const { manifest, paths } = this.options;
    mkdirSync(paths.dataDir, { recursive: true });
    for (const dir of manifest.data) mkdirSync(join(paths.dataDir, dir), { recursive: true });
    rotate(paths.logFile);
    const port = manifest.http ? await freePort() : undefined;
    const env: Record<string, string> = {
      PATH: this.options.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: paths.dataDir,
      LANG: "C.UTF-8",
      ...manifest.run.env,
      ...this.options.env,
      ...(port !== undefined && manifest.http ? { [manifest.http.portEnv]: String(port) } : {}),
    };
    // bucky is a compiled Bun: with BUN_BE_BUN set, its binary runs scripts as `bun` would.
    if (manifest.run.command[0] === "bun") env.BUN_BE_BUN = "1";
    const command = this.command();
    const out = openSync(paths.logFile, "a", 0o600);
    try {
      this.child = Bun.spawn(command, {
        cwd: paths.packageDir,
        env,
        stdin: "ignore",
        stdout: out,
        stderr: out,
        onExit: (_proc, code, signal) => this.exited(code, signal),
      });
    } catch (error) {
      this.fail(`cannot start ${manifest.run.command[0]}: ${(error as Error).message}`, () =>
        this.launch(),
      );
      return;
    } finally {
      closeSync(out);
    }
    writeFileSync(paths.pidFile, `${this.child.pid}\n`);
    this.startedAt = Date.now();
    this.url = port === undefined ? null : `http://127.0.0.1:${port}`;
    this.setState("starting", null);
    this.options.log.info("app started", {
      app: this.options.app,
      pid: this.child.pid,
      url: this.url ?? undefined,
      sandboxed: this.sandboxed,
    });
    this.watch(this.child);
  }

  /** Health checks (or, without one, a short wait) while this process lives. */
  private watch(child: Subprocess): void {
    const health = this.options.manifest.health;
    const alive = () =>
      !this.stopped && this.child === child && child.exitCode === null && child.signalCode === null;
    if (!health) {
      this.later(NO_CHECK_RUNNING_MS, () => {
        if (alive()) this.setState("running", null);
      });
      return;
    }
    const check = async () => {
      if (!alive()) return;
      const problem = await probe(`${this.url}${health.path}`, health.timeoutMs);
      if (!alive()) return;
      if (problem === undefined) {
        if (this.state !== "running") this.setState("running", null);
      } else if (this.state === "running") {
        this.setState("unhealthy", `health check failed: ${problem}`);
      } else if (this.state === "starting" && Date.now() - this.startedAt > health.graceMs) {
        this.setState(
          "unhealthy",
          `not healthy ${health.graceMs / 1000} s after starting: ${problem}`,
        );
      }
      if (Date.now() - this.startedAt > STABLE_MS && this.state === "running")
        this.failuresInARow = 0;
      this.later(health.intervalMs, check);
    };
    this.later(Math.min(200, health.intervalMs), check);
  }

  private exited(code: number | null, signal: number | string | null): void {
    rmSync(this.options.paths.pidFile, { force: true });
    if (this.stopped) return;
    if (Date.now() - this.startedAt > STABLE_MS) this.failuresInARow = 0;
    const how = signal !== null ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const last = lastLine(this.options.paths.logFile);
    this.fail(`the process ${how}${last ? `; its last output: ${last}` : ""}`, () => this.launch());
  }

  /** Reports the failure and tries again after the current backoff. */
  private fail(reason: string, retry: () => Promise<void> | void): void {
    if (this.stopped) return;
    this.failuresInARow++;
    this.restarts++;
    const delayMs = Math.min(FIRST_RESTART_MS * 2 ** (this.failuresInARow - 1), MAX_RESTART_MS);
    this.setState("crashed", `${reason} (restarting in ${delayMs / 1000} s)`);
    this.options.log.warn("app failed", {
      app: this.options.app,
      error: reason,
      restartInMs: delayMs,
    });
    this.later(delayMs, retry);
  }

  private command(): string[] {
    const [program, ...args] = this.options.manifest.run.command as [string, ...string[]];
    const resolved =
      program === "bun"
        ? this.options.runtime
        : program.startsWith("./")
          ? join(this.options.paths.packageDir, program)
          : program;
    const bwrap = this.options.bwrap;
    if (!bwrap) return [resolved, ...args];
    const { packageDir, dataDir } = this.options.paths;
    return [
      bwrap,
      ...["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"],
      // bucky's home disappears; only the app's own package and data come back, and the
      // runtime, wherever it lives (under /tmp or the home it would be hidden too).
      ...["--tmpfs", this.options.hiddenDir],
      ...["--ro-bind", this.options.runtime, this.options.runtime],
      ...["--ro-bind", packageDir, packageDir],
      ...["--bind", dataDir, dataDir],
      ...["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"],
      ...["--chdir", packageDir, "--", resolved, ...args],
    ];
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

/** Why `url` is not healthy, or undefined when it answers 2xx in time. */
async function probe(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok ? undefined : `HTTP ${response.status}`;
  } catch (error) {
    return (error as Error).name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : (error as Error).message;
  }
}

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function rotate(path: string): void {
  if (existsSync(path) && statSync(path).size > LOG_ROTATE_BYTES) renameSync(path, `${path}.1`);
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
