/**
 * Runs the compiled `dist/bucky` the way a user does, in throwaway homes. Every test
 * gets its own temporary directory; `cleanUp` stops a file's daemons and removes them.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { engineFlags, engineRunDir, holdsContainers } from "../lib/images/podman.ts";

export const BUCKY = resolve(import.meta.dir, "../dist/bucky");

if (!existsSync(BUCKY)) {
  throw new Error(`${BUCKY} is missing: build it first with \`just build\` (or run \`npm test\`).`);
}

export interface RunResult {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly stdin?: string;
  readonly env?: Record<string, string>;
  /** A command to run bucky under, such as `ip netns exec <ns>`. */
  readonly wrap?: readonly string[];
  /** The directory to run it in (the test's own by default). */
  readonly cwd?: string;
  /** Another copy of bucky to run (the one built by default). */
  readonly binary?: string;
}

/** Runs `bucky args…` to completion. HOME and BUCKY_HOME point nowhere real by default. */
export async function bucky(args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const child = Bun.spawn([...(options.wrap ?? []), options.binary ?? BUCKY, ...args], {
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: fakeUserHome(), ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  return {
    exitCode: child.exitCode,
    signal: child.signalCode === null ? null : String(child.signalCode),
    stdout,
    stderr,
  };
}

/** Runs `bucky args… --json` and parses stdout; fails the test with stderr if it did not succeed. */
export async function buckyJson<T = Record<string, unknown>>(
  args: readonly string[],
  options: RunOptions = {},
): Promise<T> {
  const result = await bucky([...args, "--json"], options);
  if (result.exitCode !== 0) {
    throw new Error(`bucky ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  }
  return JSON.parse(result.stdout) as T;
}

/** Parses the one JSON error object a failed `--json` command writes to stderr. */
export function jsonError(result: RunResult): { code: string; message: string; hint?: string } {
  return (JSON.parse(result.stderr) as { error: { code: string; message: string; hint?: string } })
    .error;
}

const scratchRoots: string[] = [];
const running = new Set<Daemon>();
/** Homes daemons ran in: apps a killed daemon left running are found by their pid files. */
const daemonHomes = new Set<string>();

/**
 * Stops the daemons started so far (and apps they left behind) and removes the scratch
 * directories. Each test file that starts daemons calls `afterAll(cleanUp)`: bun runs
 * every file in one process, where a hook registered here would run after the first
 * file only; test/preload.ts calls it once more at the very end, for anything missed.
 */
export async function cleanUp(): Promise<void> {
  // Daemons first: they hold files in the directories removed next.
  await Promise.all([...running].map((daemon) => daemon.kill()));
  for (const root of scratchRoots) killBackgroundDaemons(root);
  for (const home of daemonHomes) killLeftoverApps(home);
  for (const home of daemonHomes) removeContainers(home);
  daemonHomes.clear();
  // Each directory goes whatever happens to the others; what could not go is said after.
  const left: string[] = [];
  for (const dir of scratchRoots.splice(0)) {
    try {
      await removeScratch(dir);
    } catch (error) {
      left.push(`${dir}: ${(error as Error).message}`);
    }
  }
  userHome = undefined;
  if (left.length > 0) throw new Error(`scratch directories left behind: ${left.join("; ")}`);
}

/** Daemons `bucky up` or `bucky join` left running in the background, found by their daemon.json. */
function killBackgroundDaemons(root: string): void {
  for (const home of [root, ...readdirSync(root).map((name) => join(root, name))]) {
    const info = join(home, "daemon.json");
    if (!existsSync(info)) continue;
    daemonHomes.add(home);
    try {
      process.kill((JSON.parse(readFileSync(info, "utf8")) as { pid: number }).pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

function killLeftoverApps(home: string): void {
  const apps = join(home, "apps");
  if (!existsSync(apps)) return;
  for (const app of readdirSync(apps)) {
    const pidFile = join(apps, app, "pid");
    if (!existsSync(pidFile)) continue;
    try {
      process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

/**
 * The containers of image apps a killed daemon left running (the engine keeps them), and
 * the engine's run state for the home, outside it.
 */
export function removeContainers(home: string): void {
  const containers = join(home, "containers");
  if (!existsSync(containers)) return;
  if (holdsContainers(containers))
    spawnSync("podman", [...engineFlags(containers), "rm", "--force", "--time", "0", "--all"], {
      stdio: "ignore",
    });
  rmSync(engineRunDir(containers), { recursive: true, force: true });
}

/**
 * Unmounts what is mounted under `dir`, deepest first: Podman's storage keeps a mount of
 * its own (`…/storage/overlay`) after it exits, which would keep the directory from going.
 */
/**
 * Removes a scratch directory. A process just killed (an app's container, a daemon in a
 * network namespace, whose mount namespace holds the overlay mounts under it) may still
 * pin it for a moment as the kernel tears it down: EBUSY is tried again, for a while.
 */
async function removeScratch(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    unmountUnder(dir);
    try {
      rmSync(dir, { recursive: true, force: true });
      return;
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EBUSY" || Date.now() > deadline) throw error;
      await Bun.sleep(100);
    }
  }
}

function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .map((path) => path.replace(/\\040/g, " "))
    .filter((path) => path === dir || path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mount of mounts) spawnSync("umount", ["-l", mount], { stdio: "ignore" });
}

/**
 * A port nothing listens on now, below the range the kernel hands out for outgoing
 * connections and port 0 (32768 up), so that no daemon or connection takes it meanwhile.
 */
export function freePort(): number {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      Bun.listen({ hostname: "0.0.0.0", port, socket: { data() {} } }).stop(true);
      return port;
    } catch {
      // Taken: another.
    }
  }
}

/** A new empty directory for this test file, removed afterwards. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "bucky-test-"));
  scratchRoots.push(dir);
  return dir;
}

/** An app's directory in this file's scratch: its manifest (bucky-app.json) and its files. */
export function appDir(
  manifest: { readonly id: string } & Record<string, unknown>,
  files: Record<string, string>,
): string {
  const dir = join(scratchDir(), manifest.id);
  mkdirSync(dir);
  writeFileSync(join(dir, "bucky-app.json"), JSON.stringify(manifest));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

let userHome: string | undefined;
/** $HOME for spawned commands, so a test can never touch the real ~/.bucky. */
function fakeUserHome(): string {
  userHome ??= scratchDir();
  return userHome;
}

/** A path for a home that does not exist yet. */
export function newHomePath(): string {
  return join(scratchDir(), "home");
}

export interface Daemon {
  readonly home: string;
  readonly addresses: readonly string[];
  readonly pid: number;
  /** Everything the daemon wrote to stderr (its log) so far. */
  log(): string;
  /** SIGTERM, then wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** Settles with the exit code when the daemon exits by itself. */
  readonly exited: Promise<number | null>;
  kill(): Promise<void>;
}

export interface DaemonOptions {
  /** Another copy of bucky to run (the one built by default). */
  readonly binary?: string;
  /** A command to run it under, such as `ip netns exec <ns>`. */
  readonly wrap?: readonly string[];
  /** Where it listens: a free loopback port by default. */
  readonly listen?: string;
  readonly port?: number;
}

/** Starts `bucky daemon` (on a free loopback port) and waits until it says it is ready. */
export async function startDaemon(
  home: string,
  env: Record<string, string> = {},
  options: DaemonOptions = {},
): Promise<Daemon> {
  const child = Bun.spawn(
    [
      ...(options.wrap ?? []),
      options.binary ?? BUCKY,
      "daemon",
      "--home",
      home,
      "--port",
      String(options.port ?? 0),
      "--listen",
      options.listen ?? "127.0.0.1",
      "--json",
      "--log-level",
      "debug",
    ],
    {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: fakeUserHome(),
        BUCKY_SYNC_INTERVAL_MS: "300",
        ...env,
      },
    },
  );
  let stderr = "";
  (async () => {
    for await (const chunk of child.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  let stdout = "";
  let ready: { addresses: string[]; pid: number } | undefined;
  for await (const chunk of child.stdout) {
    stdout += new TextDecoder().decode(chunk);
    try {
      ready = JSON.parse(stdout);
      break;
    } catch {
      // Not the whole document yet.
    }
  }
  if (!ready) {
    await child.exited;
    throw new Error(`bucky daemon for ${home} did not start (exit ${child.exitCode}): ${stderr}`);
  }
  let asked = false;
  const daemon: Daemon = {
    home,
    addresses: ready.addresses,
    pid: ready.pid,
    log: () => stderr,
    exited: child.exited.then(() => {
      running.delete(daemon);
      // A daemon that ends unasked (a crash, a fatal check) says why, whatever the test does.
      if (!asked && child.signalCode === null)
        process.stderr.write(
          `\n!!! the daemon for ${home} exited by itself (code ${child.exitCode}); its last words:\n${stderr.split("\n").slice(-15).join("\n")}\n`,
        );
      return child.exitCode;
    }),
    async stop() {
      asked = true;
      child.kill("SIGTERM");
      await child.exited;
      running.delete(daemon);
      return child.exitCode;
    },
    async kill() {
      asked = true;
      child.kill("SIGKILL");
      await child.exited;
      running.delete(daemon);
    },
  };
  running.add(daemon);
  daemonHomes.add(home);
  return daemon;
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

/**
 * SIGSTOPs process `pid` and waits until it has stopped: a signal takes effect only once the
 * process leaves the kernel, so one in an fsync goes on until it returns, and what it does
 * meanwhile (a file written) must not be taken for another's.
 */
export async function stopProcess(pid: number): Promise<"stopped" | "exited"> {
  process.kill(pid, "SIGSTOP");
  return await waitFor(`process ${pid} to stop`, () => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command's name in parentheses (which may hold any character).
    const state = stat.charAt(stat.lastIndexOf(")") + 2);
    if (state === "T" || state === "t") return "stopped";
    // Ended before the signal took (a child not yet waited for stays, a zombie).
    return state === "Z" || state === "X" ? "exited" : undefined;
  });
}

/**
 * A zone of devices, each with its home and running daemon: the first created it, the rest
 * joined (given the backup key, unless `backupKey` is false).
 */
export async function startZone(
  names: readonly string[],
  env: Record<string, string> = {},
  options: { backupKey?: boolean } = {},
): Promise<Map<string, Daemon>> {
  const daemons = new Map<string, Daemon>();
  const [founder, ...others] = names as [string, ...string[]];
  const founderHome = newHomePath();
  await buckyJson(["init", "--home", founderHome, "--device", founder]);
  daemons.set(founder, await startDaemon(founderHome, env));
  for (const name of others) {
    const { token } = await buckyJson<{ token: string }>([
      "invite",
      ...(options.backupKey === false ? ["--no-backup-key"] : []),
      "--home",
      founderHome,
    ]);
    const home = newHomePath();
    await buckyJson(["join", token, "--home", home, "--device", name, "--no-start"]);
    daemons.set(name, await startDaemon(home, env));
  }
  return daemons;
}

/** Makes `home`'s device a gateway on a random loopback port; its URL, once it answers. */
export async function enableGateway(home: string, flags: readonly string[] = []): Promise<string> {
  const port = freePort();
  await buckyJson(["gateway", "enable", "--listen", `127.0.0.1:${port}`, ...flags, "--home", home]);
  const url = `http://127.0.0.1:${port}`;
  await waitFor("the gateway", () =>
    fetch(`${url}/`).then(
      () => true,
      () => undefined,
    ),
  );
  return url;
}

/**
 * Where a gateway without a name serves `app`: the port of its own that `/apps/<app>/`
 * leads to (lib/gateway/app-ports.ts), once it has one; without a slash at the end, as a
 * gateway's URL is.
 */
export async function appOrigin(gateway: string, app: string): Promise<string> {
  return waitFor(`${app}'s own port at ${gateway}`, async () => {
    const response = await fetch(`${gateway}/apps/${app}/`, { redirect: "manual" });
    const location = response.headers.get("location");
    return response.status === 308 && location ? new URL(location).origin : undefined;
  });
}

/** The keys under `prefix` a device's state holds live, as key → value. */
export async function stateUnder(home: string, prefix: string): Promise<Record<string, unknown>> {
  const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
    "state",
    "list",
    prefix,
    "--home",
    home,
  ]);
  return Object.fromEntries(
    entries.filter((e) => e.value !== null).map((entry) => [entry.key, entry.value]),
  );
}

/**
 * The zone state a device's daemon reports, as key → value, without bucky's own keys (boot/,
 * devices/, nodes/, the backup key epochs and the stored files' records).
 */
export async function userState(home: string): Promise<Record<string, unknown>> {
  const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
    "state",
    "list",
    "--home",
    home,
  ]);
  return Object.fromEntries(
    entries
      .filter(
        (e) => !/^(boot|devices|nodes|system\/backup\/key-epochs|system\/files)\//.test(e.key),
      )
      .map((e) => [e.key, e.value]),
  );
}

/** Runs `body` with a fresh tmpfs (mount options as given) mounted in a scratch directory. */
export async function withTmpfs(
  options: string,
  body: (mount: string) => Promise<void>,
): Promise<void> {
  const mount = join(scratchDir(), "mnt");
  mkdirSync(mount);
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", mount]);
  if (mounted.status !== 0) {
    throw new Error(`this test needs root to mount a tmpfs (as CI runs it): ${mounted.stderr}`);
  }
  try {
    await body(mount);
  } finally {
    spawnSync("umount", ["-l", mount]);
  }
}

/**
 * A request straight to an app at the URL its status reports: a port on 127.0.0.1, or,
 * for a sandboxed app, `unix:<socket>` (the socket into its sandbox, which root reaches).
 */
export function appFetch(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  if (url.startsWith("unix:"))
    return fetch(`http://app${path}`, { ...init, unix: url.slice("unix:".length) } as RequestInit);
  return fetch(`${url}${path}`, init);
}

/**
 * Where a browser at a named gateway's `site` (`http://home.localhost:8080`) sends a
 * request for `path`: `/apps/<app>/…` goes to the app's own name (`notes.home.localhost`),
 * everything else to the site's. The host to send, and the path at it.
 */
export function atName(site: string, path: string): { host: string; path: string } {
  const app = /^\/apps\/([^/]+)(\/.*)$/.exec(path);
  const host = new URL(site).host;
  return app ? { host: `${app[1]}.${host}`, path: app[2] as string } : { host, path };
}

/**
 * For a write whose answer promises it outlives the device that made it: runs `act` with
 * the devices `stopped` paused (SIGSTOP), so that none can hold what it writes. Once
 * `written` says the write is made, and half a second on, it must not have been answered
 * (throws if it was); then they are let go, and its answer is returned.
 */
export async function answeredOnceHeld<T>(
  stopped: readonly Daemon[],
  act: () => Promise<T>,
  written: { readonly what: string; readonly seen: () => boolean; readonly timeoutMs?: number },
): Promise<T> {
  for (const daemon of stopped) process.kill(daemon.pid, "SIGSTOP");
  let answered = false;
  let running: Promise<T> | undefined;
  try {
    running = act();
    void running.then(
      () => {
        answered = true;
      },
      () => {
        answered = true;
      },
    );
    await waitFor(written.what, () => (written.seen() ? true : undefined), written.timeoutMs);
    // What is not there cannot be waited for: a while, in which no answer may come.
    await Bun.sleep(500);
    if (answered) throw new Error(`answered before another device could hold ${written.what}`);
  } finally {
    for (const daemon of stopped) process.kill(daemon.pid, "SIGCONT");
  }
  return await running;
}

/** The path of chunk `id` (`sha256:<hex>`) in the named-data store of `home`. */
export function chunkPath(home: string, id: string): string {
  const hex = id.slice("sha256:".length);
  return join(home, "ndn", "chunks", hex.slice(0, 2), hex);
}

/**
 * Writes `bytes` as one chunk into the store of `home` alone, as no command would: no zone
 * record names it, so no other device copies it (what `bucky put` stores, every device
 * does). For a case that needs an object fetched from one device only. Its id.
 */
export function storeChunkAlone(home: string, bytes: Uint8Array): string {
  const id = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  const path = chunkPath(home, id);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes);
  return id;
}
