/**
 * `bucky daemon` for a benchmark: on a free loopback port, logging only errors, and
 * ready once its local API answers. And the one way a benchmark is told of another build
 * of bucky: `--bucky BINARY` (benchBinary).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DAEMON_ENV } from "../lib/node/daemon-env.ts";

/**
 * The bucky a benchmark runs: `--bucky BINARY` when given (another build, such as main's
 * copied aside, for an A/B), else this checkout's dist/bucky. Every bench that can run
 * another build takes this flag, and only this one.
 */
export function benchBinary(flag: string | undefined): string {
  return resolve(flag ?? join(import.meta.dir, "../dist/bucky"));
}

export async function startDaemon(
  binary: string,
  home: string,
  env: Record<string, string> = {},
): Promise<ReturnType<typeof Bun.spawn>> {
  const child = Bun.spawn(
    [
      binary,
      "daemon",
      "--home",
      home,
      "--port",
      "0",
      "--listen",
      "127.0.0.1",
      "--log-level",
      "error",
    ],
    // As `bucky up` starts it (lib/node/daemon-env.ts).
    { stdout: "ignore", stderr: "inherit", env: { ...process.env, ...DAEMON_ENV, ...env } },
  );
  const answers = () =>
    fetch("http://localhost/v1/status", { unix: join(home, "daemon.sock") }).then(
      (response) => response.ok,
      () => false,
    );
  const deadline = Date.now() + 30_000;
  while (!(await answers())) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      throw new Error(`the daemon for ${home} did not start`);
    }
    await Bun.sleep(10);
  }
  return child;
}

/** Runs `bucky args… --json` to completion and returns its result; throws with its stderr. */
export function buckyJson<T>(binary: string, args: readonly string[]): T {
  const run = Bun.spawnSync([binary, ...args, "--json"], { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

/** GETs `path` from a home's daemon over its local API socket. */
export async function localGet<T>(home: string, path: string): Promise<T> {
  const response = await fetch(`http://localhost${path}`, { unix: join(home, "daemon.sock") });
  return (await response.json()) as T;
}

export interface TwoDevices {
  /** The homes of device a (which made the zone) and device b (which joined it). */
  readonly homes: readonly [string, string];
  readonly daemons: readonly [ReturnType<typeof Bun.spawn>, ReturnType<typeof Bun.spawn>];
}

/**
 * A zone of two devices under `scratch`, a and b, each with its daemon running and b heard
 * online by a. Each daemon goes into `children` as it starts, so that the caller stops it
 * whatever fails after; `beforeDaemons` runs once the first home exists, before any daemon
 * starts (bench/memory.ts drops the binary from the page cache there).
 */
export async function startTwoDevices(
  binary: string,
  scratch: string,
  children: ReturnType<typeof Bun.spawn>[],
  options: { env?: Record<string, string>; beforeDaemons?: () => void } = {},
): Promise<TwoDevices> {
  const [a, b] = [join(scratch, "a"), join(scratch, "b")];
  buckyJson(binary, ["init", "--home", a, "--device", "a"]);
  options.beforeDaemons?.();
  const started = async (home: string) => {
    const child = await startDaemon(binary, home, options.env);
    children.push(child);
    return child;
  };
  const daemonA = await started(a);
  const { token } = buckyJson<{ token: string }>(binary, ["invite", "--home", a]);
  buckyJson(binary, ["join", token, "--home", b, "--device", "b", "--no-start"]);
  const daemonB = await started(b);
  // b has published its address and a has heard it.
  await until("device b online as device a sees it", async () =>
    (await localGet<{ devices: { status: string }[] }>(a, "/v1/devices")).devices.every(
      (device) => device.status === "online",
    ),
  );
  return { homes: [a, b], daemons: [daemonA, daemonB] };
}

/** Waits, asking every 5 ms, until `ready` says yes; throws naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** The CPU time (user and system, all its threads) process `pid` has spent so far, in ms. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // After the command's name (which may hold spaces): utime and stime, fields 14 and 15 of
  // the line, in clock ticks (100 a second on Linux).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}
