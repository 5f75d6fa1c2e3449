/**
 * The node running in the background, for `bucky up`, `bucky join` and `bucky stop`:
 * under systemd where systemd runs (started at boot, restarted when it crashes), else as
 * a detached process whose pid and addresses are in `<home>/daemon.json` and whose own
 * output goes to `<home>/logs/daemon.out` (its log proper is `<home>/logs/bucky.log`).
 * `bucky daemon` stays the foreground form that both of these run.
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BuckyError, ERROR_CODES } from "../errors.ts";
import { homePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { openZone } from "../zone/open.ts";
import { refuseIfRevoked } from "../zone/revoked-here.ts";
import { runsFile } from "./binary-identity.ts";
import { requestDaemon } from "./daemon-client.ts";
import { DAEMON_CONSOLE_ARGS, DAEMON_ENV } from "./daemon-env.ts";
import { daemonLockHeld } from "./daemon-lock.ts";
import type { DaemonInfo } from "./node.ts";
import { installUnit, planUnit, stopUnit, unitFile, unitInstalled } from "./systemd.ts";

/** How long a starting daemon may take to answer before starting counts as failed. */
const START_TIMEOUT_MS = 30_000;
/** How long a stopping daemon may take (it stops its apps first) before it is killed. */
const STOP_TIMEOUT_MS = 20_000;
const POLL_MS = 50;

export type Supervisor = "systemd" | "process";

export interface BackgroundOptions {
  readonly home: string;
  /** The command line that runs bucky: the binary, or the runtime and its entry script. */
  readonly command: readonly string[];
  /** Flags for `bucky daemon` (--port, --listen). */
  readonly daemonArgs: readonly string[];
  /** The systemd unit's name for this home. */
  readonly unitName: string;
  /** Whether to use systemd (it runs here, and the caller did not ask for a plain process). */
  readonly useSystemd: boolean;
  /** Whether the unit is a system one (root) or the user's. */
  readonly system: boolean;
  /** The environment the detached process gets. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Log;
}

export interface BackgroundNode {
  readonly supervisor: Supervisor;
  /** False when a daemon already ran for this home: nothing was started. */
  readonly started: boolean;
  /** A daemon ran another bucky (one this file replaced): it was stopped, and this one started. */
  readonly restarted: boolean;
  readonly pid: number;
  readonly addresses: readonly string[];
  /** The systemd unit file, when systemd supervises it. */
  readonly unit: string | null;
  readonly log: string;
}

export function outputFile(home: string): string {
  return join(homePaths(home).logsDir, "daemon.out");
}

/** Starts the home's daemon in the background, unless one runs already; resolves once it answers. */
export async function startInBackground(options: BackgroundOptions): Promise<BackgroundNode> {
  const paths = homePaths(options.home);
  const file = unitFile(options.unitName, options.system);
  const underSystemd = options.useSystemd && unitInstalled(file);
  const running = await answering(options.home);
  // A daemon of another bucky (an older build or version, which the file at this path
  // replaced) runs on, unless restarted: the node of `git pull && npm run up` would run the
  // old code, and start the new file for its apps' sandboxes.
  const restarted =
    running !== undefined && !runsFile(running.binary, options.command[0] as string);
  if (running && !restarted)
    return describe(options, running, false, underSystemd ? file.path : null);
  // A zone the daemon would refuse (an altered state, a damaged key, a device revoked, a
  // schema of a newer bucky) is refused here, with its own error, rather than as a daemon
  // that did not start; and before a running one is stopped for this one.
  const zone = openZone(options.home, options.log);
  try {
    refuseIfRevoked(options.home, zone.db, zone.zone.id, zone.device.id);
  } finally {
    zone.close();
  }
  // Restarted where it listened, unless told otherwise: its peers know it there, and one
  // kept to an address (127.0.0.1) is not opened to every interface by an upgrade.
  const daemonArgs =
    restarted && options.daemonArgs.length === 0 && running.listen
      ? ["--port", String(running.listen.port), "--listen", running.listen.host]
      : options.daemonArgs;
  if (restarted) {
    options.log.info("the daemon runs another bucky than this one: restarting it", {
      pid: running.pid,
    });
    await stopBackground(options);
    if (daemonLockHeld(options.home))
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the daemon for ${options.home} (pid ${running.pid}) runs another bucky, and did not stop`,
        `Stop it (\`bucky stop --home ${options.home}\`), then run this again.`,
      );
  }
  if (options.useSystemd) {
    installUnit(
      planUnit({
        command: options.command,
        home: options.home,
        extraArgs: daemonArgs,
        system: options.system,
        name: options.unitName,
      }),
    );
    const info = await waitUntilAnswering(options.home, () => undefined);
    options.log.info("daemon started", { supervisor: "systemd", unit: file.path, pid: info.pid });
    return describe(options, info, true, file.path, restarted);
  }
  mkdirSync(paths.logsDir, { recursive: true });
  const out = openSync(outputFile(options.home), "w", 0o600);
  const [executable, ...prefix] = options.command as [string, ...string[]];
  let exited: string | undefined;
  let integrity = false;
  try {
    const child = spawn(
      executable,
      [...prefix, "daemon", "--home", options.home, ...daemonArgs, ...DAEMON_CONSOLE_ARGS],
      { detached: true, stdio: ["ignore", out, out], env: { ...DAEMON_ENV, ...options.env } },
    );
    child.once("exit", (code, signal) => {
      exited = signal ? `it was killed by ${signal}` : `it exited with code ${code}`;
      if (code === ERROR_CODES.E_INTEGRITY.exit) integrity = true;
    });
    child.once("error", (error) => {
      exited = `it could not run: ${error.message}`;
    });
    child.unref();
  } finally {
    closeSync(out);
  }
  const info = await waitUntilAnswering(
    options.home,
    () => exited,
    () => integrity,
  );
  options.log.info("daemon started", { supervisor: "process", pid: info.pid });
  return describe(options, info, true, null, restarted);
}

export interface StoppedNode {
  readonly stopped: boolean;
  readonly supervisor: Supervisor | null;
  readonly pid: number | null;
}

/** Stops the home's daemon, whichever way it runs; resolves once it has exited. */
export async function stopBackground(
  options: Pick<BackgroundOptions, "home" | "unitName" | "useSystemd" | "system" | "log">,
): Promise<StoppedNode> {
  const file = unitFile(options.unitName, options.system);
  // One that does not answer (hung, stopped) but holds the home's lock is running all the same.
  const info = (await answering(options.home)) ?? silentDaemon(options.home);
  const underSystemd = options.useSystemd && unitInstalled(file);
  if (underSystemd) {
    stopUnit(file);
    options.log.info("daemon stopped", { supervisor: "systemd", unit: file.path });
  }
  // Not systemd's (started as a process before the unit was), or systemd's that did not
  // stop: signalled as a process.
  if (info && !(await exitedWithin(info.pid, 0))) {
    process.kill(info.pid, "SIGTERM");
    // A stopped one (SIGSTOP, a debugger let go) takes its SIGTERM once it runs again.
    process.kill(info.pid, "SIGCONT");
    if (!(await exitedWithin(info.pid, STOP_TIMEOUT_MS))) {
      process.kill(info.pid, "SIGKILL");
      await exitedWithin(info.pid, STOP_TIMEOUT_MS);
    }
    options.log.info("daemon stopped", { supervisor: "process", pid: info.pid });
  }
  return {
    stopped: info !== undefined,
    supervisor: underSystemd ? "systemd" : info ? "process" : null,
    pid: info?.pid ?? null,
  };
}

/**
 * The daemon that holds the home's lock without answering, from its daemon.json: only when
 * that pid's command line is `bucky daemon` of this home (a pid of a daemon that ended
 * may be another process's by now).
 */
function silentDaemon(home: string): DaemonInfo | undefined {
  if (!daemonLockHeld(home)) return undefined;
  try {
    const info = JSON.parse(readFileSync(homePaths(home).daemonInfo, "utf8")) as DaemonInfo;
    const words = readFileSync(`/proc/${info.pid}/cmdline`, "utf8").split("\0");
    return words.includes("daemon") && words.includes(home) ? info : undefined;
  } catch {
    return undefined;
  }
}

function describe(
  options: BackgroundOptions,
  info: DaemonInfo,
  started: boolean,
  unit: string | null,
  restarted = false,
): BackgroundNode {
  return {
    supervisor: unit ? "systemd" : "process",
    started,
    restarted,
    pid: info.pid,
    addresses: info.addresses,
    unit,
    log: join(homePaths(options.home).logsDir, "bucky.log"),
  };
}

/** The running daemon's info when one answers on the home's socket. */
async function answering(home: string): Promise<DaemonInfo | undefined> {
  const paths = homePaths(home);
  if (!existsSync(paths.daemonSocket)) return undefined;
  try {
    await requestDaemon(home, "GET", "/v1/status", undefined, 2_000);
    return JSON.parse(readFileSync(paths.daemonInfo, "utf8")) as DaemonInfo;
  } catch {
    return undefined;
  }
}

async function waitUntilAnswering(
  home: string,
  exited: () => string | undefined,
  /** Whether it exited with an integrity error: no retry will start it. */
  integrity: () => boolean = () => false,
): Promise<DaemonInfo> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const info = await answering(home);
    if (info) return info;
    const why = exited();
    if (why !== undefined || Date.now() > deadline) {
      throw new BuckyError(
        integrity() ? "E_INTEGRITY" : "E_UNAVAILABLE",
        `the bucky daemon for ${home} did not start: ${why ?? `it did not answer within ${START_TIMEOUT_MS / 1000} s`}${lastLines(outputFile(home))}`,
        `See ${outputFile(home)} and ${join(homePaths(home).logsDir, "bucky.log")}; \`bucky daemon --home ${home}\` runs it in the foreground.`,
      );
    }
    await Bun.sleep(POLL_MS);
  }
}

async function exitedWithin(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await Bun.sleep(POLL_MS);
  }
  return false;
}

/** The last lines a daemon wrote before it died, to show with the error. */
function lastLines(file: string): string {
  if (!existsSync(file)) return "";
  const lines = readFileSync(file, "utf8").trim().split("\n").filter(Boolean).slice(-3);
  return lines.length > 0 ? `\n${lines.join("\n")}` : "";
}
