/**
 * The container engine, Podman, as bucky drives it: found and tried once at daemon start,
 * then called with a storage of this home's own (`<home>/containers/`, its run state under
 * /run, which a reboot empties), so several homes on one machine are several devices that
 * share nothing, and bucky never pulls from a registry through it (`--pull never`): an
 * image reaches Podman only as an OCI layout bucky wrote from named data it verified.
 *
 * Podman runs here as root with runc and cgroupfs and explicit limits on open files and
 * processes (crun and the default limits fail in some sandboxes; see PLATFORM.md).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Platform } from "../../protocol/oci.ts";
import { BuckyError } from "../errors.ts";

/** How long one call of Podman may take (loading a large image is the slowest). */
const CALL_TIMEOUT_MS = 10 * 60_000;
const PROBE_TIMEOUT_MS = 60_000;
/** Where Podman's run state goes: emptied by a reboot, as it must be. */
const RUN_ROOT = "/run/bucky/podman";

export interface Engine {
  readonly podman: string;
  /** Enters a container's network, for the forwarder the daemon reaches it through. */
  readonly nsenter: string;
  readonly version: string;
  /** What this device runs. */
  readonly platform: Platform;
  /** The flags every call takes: this home's storage, runc, cgroupfs. */
  readonly flags: readonly string[];
  /** PATH for Podman (it finds runc and conmon there). */
  readonly path: string;
}

export type EngineSupport =
  | { readonly engine: Engine; readonly problem?: undefined }
  | { readonly engine: undefined; readonly problem: string };

/** The flags that give Podman this home's storage. */
export function engineFlags(containersDir: string): string[] {
  const run = engineRunDir(containersDir);
  return [
    "--root",
    join(containersDir, "storage"),
    "--runroot",
    join(run, "run"),
    "--tmpdir",
    join(run, "tmp"),
    "--runtime",
    "runc",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
  ];
}

/** The run state directory of a home's Podman (for cleaning up after tests). */
export function engineRunDir(containersDir: string): string {
  return join(
    RUN_ROOT,
    createHash("sha256").update(resolve(containersDir)).digest("hex").slice(0, 16),
  );
}

/**
 * What this device can do to run images: Podman, runc and nsenter must be there, and
 * bucky root. Podman is asked its version and platform (a few milliseconds: every daemon
 * start pays it); whether it can make a container here is found at an app's first start,
 * whose status then says what Podman said. `podman` is a path or a name found on `path`;
 * `off` turns images off.
 */
export function detectEngine(options: {
  readonly podman: string;
  readonly path: string;
  readonly asRoot: boolean;
  readonly containersDir: string;
  readonly off: boolean;
}): EngineSupport {
  if (options.off)
    return { engine: undefined, problem: "image apps are turned off here (BUCKY_PODMAN=off)" };
  if (!options.asRoot)
    return {
      engine: undefined,
      problem:
        "bucky runs container images only when it runs as root (rootless Podman is not supported yet)",
    };
  const which = (name: string) => Bun.which(name, { PATH: options.path });
  const podman = which(options.podman);
  if (!podman)
    return {
      engine: undefined,
      problem: `Podman is not installed (no ${options.podman} here): install it with \`apt-get install podman runc\``,
    };
  const nsenter = which("nsenter");
  if (!nsenter) return { engine: undefined, problem: "nsenter (util-linux) is not installed" };
  if (!which("runc"))
    return {
      engine: undefined,
      problem: "runc is not installed: install it with `apt-get install runc`",
    };
  // Asked as the daemon starts, before it writes anything: what it says is said at once.
  const version = Bun.spawnSync([podman, "version", "--format", "json"], {
    stdin: "ignore",
    env: { PATH: options.path, LANG: "C.UTF-8" },
    timeout: PROBE_TIMEOUT_MS,
  });
  let client: { Version?: unknown; OsArch?: unknown } | undefined;
  try {
    client = (JSON.parse(version.stdout.toString()) as { Client?: typeof client }).Client;
  } catch {
    client = undefined;
  }
  const [os, architecture] = typeof client?.OsArch === "string" ? client.OsArch.split("/") : [];
  if (version.exitCode !== 0 || !os || !architecture)
    return {
      engine: undefined,
      problem: `Podman does not answer: ${firstLine(version.stderr.toString()) || `exit code ${version.exitCode}`}`,
    };
  mkdirSync(join(options.containersDir, "storage"), { recursive: true, mode: 0o700 });
  return {
    engine: {
      podman,
      nsenter,
      version: typeof client?.Version === "string" ? client.Version : "unknown",
      platform: { os, architecture, ...(architecture === "arm64" ? { variant: "v8" } : {}) },
      flags: engineFlags(options.containersDir),
      path: options.path,
    },
  };
}

/** Whether this home's engine holds any container (asked of its files: no Podman to start). */
export function holdsContainers(containersDir: string): boolean {
  const storage = join(containersDir, "storage");
  if (!existsSync(storage)) return false;
  return readdirSync(storage)
    .filter((name) => name.endsWith("-containers"))
    .some((name) => {
      try {
        const list = JSON.parse(readFileSync(join(storage, name, "containers.json"), "utf8"));
        return Array.isArray(list) && list.length > 0;
      } catch {
        return false;
      }
    });
}

export interface CallResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs Podman with this home's flags; never throws for a non-zero exit. */
export function podman(
  engine: Engine,
  args: readonly string[],
  timeoutMs = CALL_TIMEOUT_MS,
  cwd?: string,
): Promise<CallResult> {
  return call(engine.podman, [...engine.flags, ...args], engine.path, timeoutMs, cwd);
}

/**
 * Loads the OCI layout in `dir` and checks Podman holds the image `configDigest` names.
 * Podman names what it loads after the path it is given: the layout's own name, from
 * beside it, names the image `localhost/<name>`.
 */
export async function loadImage(engine: Engine, dir: string, configDigest: string): Promise<void> {
  const loaded = await podman(
    engine,
    ["load", "--quiet", "--input", basename(dir)],
    CALL_TIMEOUT_MS,
    dirname(dir),
  );
  if (loaded.code !== 0)
    throw new BuckyError(
      /no space left/i.test(loaded.stderr) ? "E_IO" : "E_INTEGRITY",
      `Podman refused the image: ${firstLine(loaded.stderr)}`,
      /no space left/i.test(loaded.stderr) ? "The disk is full: free some space." : undefined,
    );
  if (!(await hasImage(engine, configDigest)))
    throw new BuckyError("E_INTEGRITY", `Podman loaded an image other than ${configDigest}`);
}

export async function hasImage(engine: Engine, configDigest: string): Promise<boolean> {
  return (
    (await podman(engine, ["image", "exists", imageId(configDigest)], PROBE_TIMEOUT_MS)).code === 0
  );
}

/** Podman's id of an image: its config's digest, in hex. */
export function imageId(configDigest: string): string {
  return configDigest.slice("sha256:".length);
}

/** Removes a container, running or not (gone already is fine). */
export async function removeContainer(engine: Engine, name: string): Promise<void> {
  await podman(engine, ["rm", "--force", "--time", "0", "--ignore", name], PROBE_TIMEOUT_MS);
}

/** Removes every container of this home: what a daemon that died left running. */
export async function removeAllContainers(engine: Engine, containersDir: string): Promise<void> {
  if (holdsContainers(containersDir))
    await podman(engine, ["rm", "--force", "--time", "0", "--all"], PROBE_TIMEOUT_MS);
}

/** Removes an image no app uses any more (in use or gone already is fine). */
/** Removes an image from the engine; false when it stays (a container still uses it). */
export async function removeImage(engine: Engine, configDigest: string): Promise<boolean> {
  const removed = await podman(
    engine,
    ["rmi", "--ignore", imageId(configDigest)],
    PROBE_TIMEOUT_MS,
  );
  return removed.code === 0;
}

async function call(
  program: string,
  args: readonly string[],
  path: string,
  timeoutMs: number,
  cwd?: string,
): Promise<CallResult> {
  const child = Bun.spawn([program, ...args], {
    ...(cwd ? { cwd } : {}),
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { PATH: path, LANG: "C.UTF-8" },
    timeout: timeoutMs,
  });
  const [stdout, stderr] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  await child.exited;
  return { code: child.exitCode, stdout, stderr };
}

export function firstLine(text: string): string {
  const line =
    text
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? "";
  // Podman's lines are logrus records: keep the message.
  const message = /msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1];
  return (message ?? line).replace(/^Error: /, "").slice(0, 300);
}
