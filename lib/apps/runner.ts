/**
 * Runs one app on this device and keeps it running: starts its process (inside its
 * sandbox, lib/apps/sandbox.ts, unless the owner allowed it to run without one where
 * there is none), gives it outbound network if it asks, opens the door the daemon reaches
 * it through, checks its health, restarts it when it dies with a growing but bounded
 * delay, and reports every change of state. Its output goes to a log file beside its data.
 */

import {
  chmodSync,
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
import type { FileSink, Subprocess } from "bun";
import type { AppManifest } from "../../protocol/app-manifest.ts";
import type { Log } from "../log.ts";
import { type AppUser, giveToApp } from "./app-user.ts";
import { type AppDoor, portDoor, socketDoor } from "./door.ts";
import { connectOutbound, type Outbound } from "./outbound.ts";
import {
  INSIDE,
  INSIDE_HTTP_PORT,
  type SandboxSupport,
  type SystemLayout,
  sandboxCommand,
} from "./sandbox.ts";
import { prepareSandboxDir, SECCOMP_FILE } from "./sandbox-dir.ts";
import { SANDBOX_INIT_COMMAND } from "./sandbox-init.ts";
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
  /** Its sandbox directory: api/ (its app API's socket), http/, etc/ (lib/apps/sandbox-dir.ts). */
  readonly sandboxDir: string;
  readonly logFile: string;
  readonly pidFile: string;
}

/** The sandbox an app runs in: this device's, and the system's layout to show it. */
export interface AppSandbox {
  readonly support: SandboxSupport & { readonly bwrap: string };
  readonly layout: SystemLayout;
  /** Its own user, when bucky runs as root. */
  readonly user: AppUser | undefined;
  /** The filter that keeps it from making user namespaces, when bucky runs as root. */
  readonly seccomp: Uint8Array | undefined;
}

export interface RunnerOptions {
  readonly app: string;
  readonly manifest: AppManifest;
  readonly paths: AppPaths;
  /** The sandbox, or undefined for an app the owner allowed to run without one. */
  readonly sandbox: AppSandbox | undefined;
  /** What runs an app whose command starts with `bun`: bucky's own runtime. */
  readonly runtime: string;
  /** BUCKY_* variables for the app (its token, ids) and PATH. */
  readonly env: Readonly<Record<string, string>>;
  readonly log: Log;
  /** Told of each change of state, with the app's URL and what went wrong. */
  readonly report: (change: {
    state: RunState;
    url: string | null;
    restarts: number;
    error: string | null;
  }) => void;
  /** Told of the door to the app when it opens, and with undefined when it closes. */
  readonly door: (door: AppDoor | undefined) => void;
}

export class AppRunner {
  private state: RunState = "pending";
  private child: Subprocess | undefined;
  private door: AppDoor | undefined;
  private outbound: Outbound | undefined;
  private url: string | null = null;
  private restarts = 0;
  private failuresInARow = 0;
  private startedAt = 0;
  private error: string | null = null;
  private stopped = false;
  private timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(private readonly options: RunnerOptions) {}

  get sandboxed(): boolean {
    return this.options.sandbox !== undefined;
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
    this.release();
    rmSync(this.options.paths.pidFile, { force: true });
    this.setState("stopped", null, true);
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    const { app, manifest, paths, sandbox } = this.options;
    const outbound = manifest.network === "outbound";
    try {
      mkdirSync(paths.dataDir, { recursive: true, mode: 0o700 });
      for (const dir of manifest.data) mkdirSync(join(paths.dataDir, dir), { recursive: true });
      if (sandbox?.user) {
        giveToApp(paths.dataDir, sandbox.user);
        chmodSync(paths.dataDir, 0o700);
      }
      if (sandbox)
        prepareSandboxDir(paths.sandboxDir, app, sandbox.user, outbound, sandbox.seccomp);
      rotate(paths.logFile);
    } catch (error) {
      this.fail(`cannot prepare the app's directories: ${(error as Error).message}`, () =>
        this.launch(),
      );
      return;
    }
    const port = manifest.http ? (sandbox ? INSIDE_HTTP_PORT : await freePort()) : undefined;
    const env: Record<string, string> = {
      PATH: this.options.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      HOME: sandbox ? INSIDE.data : paths.dataDir,
      LANG: "C.UTF-8",
      ...manifest.run.env,
      ...this.options.env,
      BUCKY_DATA_DIR: sandbox ? INSIDE.data : paths.dataDir,
      BUCKY_API_SOCKET: sandbox ? INSIDE.apiSocket : join(paths.sandboxDir, "api", "api.sock"),
      ...(port !== undefined && manifest.http ? { [manifest.http.portEnv]: String(port) } : {}),
    };
    // bucky is a compiled Bun: with BUN_BE_BUN set, its binary runs scripts as `bun` would.
    // In the sandbox the init sets it for the app alone (the init itself is bucky).
    if (manifest.run.command[0] === "bun" && !sandbox) env.BUN_BE_BUN = "1";
    const command = this.command(port, outbound);
    const out = openSync(paths.logFile, "a", 0o600);
    const seccomp = sandbox?.seccomp
      ? openSync(join(paths.sandboxDir, SECCOMP_FILE), "r")
      : undefined;
    let child: Subprocess;
    try {
      child = Bun.spawn(command, {
        cwd: paths.packageDir,
        env,
        // stdin: the go-ahead once its network is up; 3: where bubblewrap says the sandbox
        // is (INFO_FD); 4: the seccomp filter (SECCOMP_FD).
        stdio: [
          outbound ? "pipe" : "ignore",
          out,
          out,
          outbound ? "pipe" : "ignore",
          ...(seccomp === undefined ? [] : [seccomp]),
        ],
        onExit: (proc, code, signal) => this.exited(proc, code, signal),
      });
    } catch (error) {
      this.fail(`cannot start ${manifest.run.command[0]}: ${(error as Error).message}`, () =>
        this.launch(),
      );
      return;
    } finally {
      closeSync(out);
      if (seccomp !== undefined) closeSync(seccomp);
    }
    this.child = child;
    writeFileSync(paths.pidFile, `${child.pid}\n`);
    this.startedAt = Date.now();
    if (port !== undefined) {
      this.door = sandbox
        ? socketDoor(app, join(paths.sandboxDir, "http", "http.sock"))
        : portDoor(port);
      this.options.door(this.door);
    }
    this.url = this.door?.url ?? null;
    if (outbound && sandbox) {
      try {
        const pid = sandboxPid(await Bun.file(child.stdio[3] as number).text());
        this.outbound = await connectOutbound(
          sandbox.support.slirp4netns as string,
          pid,
          sandbox.support.asRoot,
        );
        const stdin = child.stdin as FileSink;
        stdin.write("go\n");
        await stdin.flush();
      } catch (error) {
        if (this.child !== child) return;
        this.child = undefined;
        child.kill("SIGKILL");
        rmSync(paths.pidFile, { force: true });
        this.release();
        const last = lastLine(paths.logFile);
        this.fail(
          `cannot give it outbound network: ${(error as Error).message}${last ? `; its last output: ${last}` : ""}`,
          () => this.launch(),
        );
        return;
      }
    }
    this.setState("starting", null);
    this.options.log.info("app started", {
      app,
      pid: child.pid,
      url: this.url ?? undefined,
      sandboxed: this.sandboxed,
      network: outbound ? "outbound" : undefined,
    });
    this.watch(child);
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
      const door = this.door;
      const problem = door
        ? await probe(door, health.path, health.timeoutMs)
        : "it has no HTTP port to check";
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

  private exited(child: Subprocess, code: number | null, signal: number | string | null): void {
    if (this.child !== child) return;
    rmSync(this.options.paths.pidFile, { force: true });
    if (this.stopped) return;
    this.release();
    if (Date.now() - this.startedAt > STABLE_MS) this.failuresInARow = 0;
    const how = signal !== null ? `was killed by signal ${signal}` : `exited with code ${code}`;
    const last = lastLine(this.options.paths.logFile);
    this.fail(`the process ${how}${last ? `; its last output: ${last}` : ""}`, () => this.launch());
  }

  /** Lets go of what the last process had: its door and its network. */
  private release(): void {
    if (this.door) {
      this.options.door(undefined);
      this.door.close();
      this.door = undefined;
    }
    this.outbound?.stop();
    this.outbound = undefined;
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

  /** What runs: the app's command, or, in the sandbox, bucky's init and the command after it. */
  private command(port: number | undefined, outbound: boolean): string[] {
    const { manifest, paths, runtime, sandbox, app } = this.options;
    const [program, ...args] = manifest.run.command as [string, ...string[]];
    const packageDir = sandbox ? INSIDE.package : paths.packageDir;
    const resolved =
      program === "bun" ? runtime : program.startsWith("./") ? join(packageDir, program) : program;
    if (!sandbox) return [resolved, ...args];
    return sandboxCommand({
      app,
      support: sandbox.support,
      layout: sandbox.layout,
      user: sandbox.user,
      runtime,
      packageDir: paths.packageDir,
      dataDir: paths.dataDir,
      sandboxDir: paths.sandboxDir,
      outbound,
      seccomp: sandbox.seccomp !== undefined,
      command: [
        runtime,
        SANDBOX_INIT_COMMAND,
        ...(port === undefined ? [] : ["--forward", INSIDE.httpSocket, String(port)]),
        ...(outbound ? ["--wait-network"] : []),
        ...(program === "bun" ? ["--bun"] : []),
        "--",
        resolved,
        ...args,
      ],
    });
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

/** The host pid of a sandbox's first process, from what bubblewrap's --info-fd says. */
function sandboxPid(info: string): number {
  let pid: unknown;
  try {
    pid = (JSON.parse(info) as { "child-pid"?: unknown })["child-pid"];
  } catch {
    pid = undefined;
  }
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0)
    throw new Error("bubblewrap did not say where the sandbox is (it failed to start)");
  return pid;
}

/** Why the app is not healthy, or undefined when `path` answers 2xx in time. */
async function probe(door: AppDoor, path: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const response = await door.fetch(path, { signal: AbortSignal.timeout(timeoutMs) });
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
