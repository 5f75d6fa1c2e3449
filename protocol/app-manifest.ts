/**
 * The app manifest, `bucky-app.json` at the root of an app's directory. Checking lists
 * every problem at once, so a developer fixes them in one pass, and refuses fields it
 * does not know (a typo must not silently change what an app may do).
 *
 *   {
 *     "id": "notes", "version": "1.2.0", "description": "…",
 *     "run": { "command": ["bun", "server.ts"], "env": { "NAME": "value" } },
 *     "http": { "portEnv": "PORT" },
 *     "data": ["db"],
 *     "permissions": ["state.read", "state.write"],   // see app-permissions.ts
 *     "network": "outbound",              // or "none" (the default): loopback only
 *     "exposure": "zone",                 // or "public"
 *     "openPaths": ["/api/"],             // under zone exposure, paths open to anyone
 *     "limits": { "rps": 50, "bandwidth": "10MB/s" },
 *     "placement": "any",                 // or a device name
 *     "standbys": 1,                      // devices keeping a copy of the data (0 to 4)
 *     "health": { "path": "/health", "intervalMs": 2000, "timeoutMs": 1000, "graceMs": 10000 }
 *   }
 *
 * An app may instead run a container image: its "run" names the image and the port it
 * answers HTTP on, and its "data" says where in the container each data directory goes.
 *
 *   {
 *     "id": "photos", "version": "1.4",
 *     "run": { "image": "registry.example/photos:1.4@sha256:…", "port": 8080,
 *              "env": { "TZ": "UTC" }, "command": ["serve"], "readOnly": true },
 *     "data": { "library": "/var/lib/photos" },
 *     "limits": { "memory": "512MiB", "cpus": 1.5 },
 *     …                                   // the rest as above, but "http"
 *   }
 */

import { permissionProblem } from "./app-permissions.ts";
import { parseImageRef } from "./image-ref.ts";
import { type AppName, checkAppName, checkDeviceName } from "./names.ts";
import { isRecord } from "./shape.ts";

export const MANIFEST_FILE = "bucky-app.json";

/** An app run from a command, in bucky's sandbox. */
export interface ProcessRun {
  readonly command: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** An app run from a container image, by the container engine. */
export interface ImageRun {
  /** The image reference; in an installed app's spec, always with its digest. */
  readonly image: string;
  /** The port it answers HTTP on, inside its container; absent: no HTTP. */
  readonly port?: number;
  /** Replaces the image's own command (CMD), when given. */
  readonly command?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Where each data directory (by name) goes in the container. */
  readonly volumes: Readonly<Record<string, string>>;
  /** The container's own files are read-only (its data directories and /tmp are not). */
  readonly readOnly?: true;
}

export type AppRun = ProcessRun | ImageRun;

export function isImageRun(run: AppRun): run is ImageRun {
  return "image" in run;
}

export interface AppManifest {
  readonly id: AppName;
  readonly version: string;
  readonly description: string;
  readonly run: AppRun;
  /** The environment variable the app's HTTP port is handed in; absent: no HTTP. */
  readonly http?: { readonly portEnv: string };
  /** The app's data directories, by name (an image app's say where they go in `run.volumes`). */
  readonly data: readonly string[];
  /** What the app may ask of its local API (protocol/app-permissions.ts). */
  readonly permissions: readonly string[];
  /**
   * "outbound": the app may open connections to the network (never to its device's
   * loopback). Absent: it has a network of its own with only its loopback in it.
   */
  readonly network?: "outbound";
  readonly exposure: "public" | "zone";
  readonly openPaths: readonly string[];
  readonly limits: {
    readonly rps?: number;
    readonly bandwidthBytesPerSecond?: number;
    /** An image app's memory, at most (its container's). */
    readonly memoryBytes?: number;
    /** An image app's share of processors, at most (1.5: one and a half). */
    readonly cpus?: number;
  };
  readonly placement: string;
  /** How many devices besides the holder keep a copy of the app's data (default 1). */
  readonly standbys: number;
  readonly health?: {
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly graceMs: number;
  };
}

export type ManifestCheck = { ok: true; manifest: AppManifest } | { ok: false; problems: string[] };

const FIELDS = [
  "id",
  "version",
  "description",
  "run",
  "http",
  "data",
  "permissions",
  "network",
  "exposure",
  "openPaths",
  "limits",
  "placement",
  "standbys",
  "health",
];
export const DEFAULT_STANDBYS = 1;
export const MAX_STANDBYS = 4;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
/** Images take the names people give their variables (TZ, PUID, discovery.type). */
const IMAGE_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.]{0,127}$/;
const DATA_DIR = /^[a-z0-9][a-z0-9._-]*$/;
/** Where in a container a data directory may not go: the system's own, and bucky's. */
const RESERVED_PATHS = [
  "/proc",
  "/sys",
  "/dev",
  "/run/bucky",
  "/etc/hosts",
  "/etc/resolv.conf",
  "/etc/hostname",
];
export const MAX_CPUS = 256;
const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KIB: 1024,
  MIB: 1024 ** 2,
  GIB: 1024 ** 3,
};

export function checkManifest(value: unknown): ManifestCheck {
  const problems: string[] = [];
  const problem = (text: string) => {
    problems.push(text);
    return undefined;
  };
  if (!isRecord(value)) return { ok: false, problems: ["the manifest must be a JSON object"] };
  for (const field of Object.keys(value))
    if (!FIELDS.includes(field)) problem(`unknown field "${field}"`);

  const id =
    typeof value.id === "string" ? value.id : problem('"id" is required: a name like "notes"');
  if (id !== undefined) {
    const name = checkAppName(id);
    if (!name.ok) problem(`"id" is not a valid app id: ${name.reason}`);
  }
  const version =
    typeof value.version === "string" && /^[0-9A-Za-z.+-]{1,32}$/.test(value.version)
      ? value.version
      : problem('"version" is required: up to 32 letters, digits and . + -, like "1.0.0"');
  const description =
    value.description === undefined
      ? ""
      : typeof value.description === "string" && value.description.length <= 500
        ? value.description
        : problem('"description" must be text of at most 500 characters');

  let run: AppRun | undefined;
  let volumes: Record<string, string> | undefined;
  if (!isRecord(value.run)) {
    problem(
      '"run" is required: {"command": ["program", "arg", …]}, or {"image": "registry/name:tag", "port": 8080}',
    );
  } else if (value.run.image !== undefined) {
    const image = checkImageRun(value.run, problem);
    volumes = checkVolumes(value.data, problem);
    run = { ...image, volumes: volumes ?? {} };
  } else {
    const command = value.run.command;
    if (
      !Array.isArray(command) ||
      command.length === 0 ||
      !command.every((part) => typeof part === "string" && part.length > 0 && part.length <= 4096)
    ) {
      problem('"run.command" must be a non-empty list of strings, like ["bun", "server.ts"]');
    }
    const env = value.run.env ?? {};
    if (!isRecord(env)) problem('"run.env" must be an object of strings');
    else {
      for (const [name, text] of Object.entries(env)) {
        for (const why of envProblems(name, text, false)) problem(why);
      }
    }
    for (const field of Object.keys(value.run))
      if (field !== "command" && field !== "env") problem(`unknown field "run.${field}"`);
    run = { command: command as string[], env: env as Record<string, string> };
  }
  const image = run !== undefined && isImageRun(run);

  let http: AppManifest["http"];
  if (value.http !== undefined && image) {
    problem('"http" is for apps run from a command: an image app names its port in "run.port"');
  } else if (value.http !== undefined) {
    if (!isRecord(value.http)) problem('"http" must be an object, like {"portEnv": "PORT"}');
    else {
      const portEnv = value.http.portEnv ?? "PORT";
      const why = portEnvProblem(portEnv);
      if (why) problem(why);
      for (const field of Object.keys(value.http))
        if (field !== "portEnv") problem(`unknown field "http.${field}"`);
      http = { portEnv: portEnv as string };
    }
  }

  const data = image
    ? Object.keys(volumes ?? {})
    : isRecord(value.data)
      ? (problem(
          '"data" maps directories to paths only for an image app: an app run from a command lists them, like ["db"]',
        ) ?? [])
      : stringList(value.data, "data", problem, isDataDirName, "a directory name like db");
  if (new Set(data).size !== data.length) problem('"data" names a directory twice');
  const permissions = stringList(
    value.permissions,
    "permissions",
    problem,
    () => true,
    "a permission name",
  );
  for (const permission of permissions) {
    const why = permissionProblem(permission);
    if (why) problem(`"permissions": ${why}`);
  }
  if (new Set(permissions).size !== permissions.length) problem('"permissions" lists one twice');
  const network = value.network ?? "none";
  if (network !== "none" && network !== "outbound")
    problem('"network" must be "none" or "outbound"');

  const exposure = value.exposure ?? "zone";
  if (exposure !== "public" && exposure !== "zone")
    problem('"exposure" must be "public" or "zone"');
  const openPaths = stringList(
    value.openPaths,
    "openPaths",
    problem,
    (path) => path.startsWith("/") && path.length <= 256,
    "a path starting with /",
  );
  if (openPaths.length > 0 && exposure === "public")
    problem('"openPaths" only matters for "zone" exposure: a public app is open everywhere');

  const limits = checkLimits(value.limits, problem);
  if (!image && (limits.memoryBytes !== undefined || limits.cpus !== undefined))
    problem('"limits.memory" and "limits.cpus" apply to image apps (their container) only');

  const placement = value.placement ?? "any";
  if (typeof placement !== "string" || (placement !== "any" && !checkDeviceName(placement).ok)) {
    problem('"placement" must be "any" or a device name');
  }

  const standbys = value.standbys ?? DEFAULT_STANDBYS;
  if (
    !Number.isSafeInteger(standbys) ||
    (standbys as number) < 0 ||
    (standbys as number) > MAX_STANDBYS
  )
    problem(`"standbys" must be a whole number from 0 to ${MAX_STANDBYS}`);

  let health: AppManifest["health"];
  if (value.health !== undefined) {
    if (
      !isRecord(value.health) ||
      typeof value.health.path !== "string" ||
      !value.health.path.startsWith("/")
    ) {
      problem('"health" must be like {"path": "/health"}');
    } else {
      const intervalMs = positive(value.health.intervalMs, 2000, "health.intervalMs", problem);
      const timeoutMs = positive(value.health.timeoutMs, 1000, "health.timeoutMs", problem);
      const graceMs = positive(value.health.graceMs, 10_000, "health.graceMs", problem);
      for (const field of Object.keys(value.health))
        if (!["path", "intervalMs", "timeoutMs", "graceMs"].includes(field))
          problem(`unknown field "health.${field}"`);
      health = { path: value.health.path, intervalMs, timeoutMs, graceMs };
    }
    if (http === undefined && !(run && isImageRun(run) && run.port !== undefined))
      problem(
        image
          ? '"health" needs "run.port": the check is an HTTP request'
          : '"health" needs "http": the check is an HTTP request',
      );
  }

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    manifest: {
      id: id as AppName,
      version: version as string,
      description: description as string,
      run: run as AppManifest["run"],
      ...(http ? { http } : {}),
      data,
      permissions,
      ...(network === "outbound" ? { network: "outbound" as const } : {}),
      exposure: exposure as "public" | "zone",
      openPaths,
      limits,
      placement: placement as string,
      standbys: standbys as number,
      ...(health ? { health } : {}),
    },
  };
}

/**
 * What is wrong with an installed manifest (checkManifest's output, as an app's spec in the
 * zone state carries it) where a device would act on it: its data directories' names
 * (paths made under the app's data directory), where an image app's go in its container,
 * its environment and its health check. Any member writes specs, so a device checks these
 * again rather than trust that an install checked them: a data directory `../../x` would be
 * made, and bound into a container, outside the app's own; a check every 0 ms would spin.
 */
export function installedManifestProblems(manifest: AppManifest): string[] {
  const problems: string[] = [];
  const { data, run } = manifest;
  if (data.length > 32) problems.push('"data" names at most 32 directories');
  for (const name of data)
    if (!isDataDirName(name))
      problems.push(`"data" name ${JSON.stringify(name)} is not a directory name like db`);
  if (new Set(data).size !== data.length) problems.push('"data" names a directory twice');
  const image = isImageRun(run);
  if (image) {
    const names = Object.keys(run.volumes);
    if (names.length !== data.length || !names.every((name) => data.includes(name)))
      problems.push(
        '"run.volumes" must say where each of its "data" directories goes, and no more',
      );
    for (const [name, path] of Object.entries(run.volumes)) {
      const why = containerPathProblem(path);
      if (why) problems.push(`"data.${name}" ${why}`);
    }
    if (new Set(Object.values(run.volumes)).size !== names.length)
      problems.push('"data" puts two directories at one path');
  }
  for (const [name, value] of Object.entries(run.env))
    problems.push(...envProblems(name, value, image));
  if (manifest.http) {
    const why = portEnvProblem(manifest.http.portEnv);
    if (why) problems.push(why);
  }
  // A check every 0 ms, or one that times out at once, would be a loop on the device.
  const health = manifest.health;
  if (health && !health.path.startsWith("/")) problems.push('"health.path" must start with /');
  for (const field of ["intervalMs", "timeoutMs", "graceMs"] as const)
    if (health && !isHealthMs(health[field]))
      problems.push(`"health.${field}" must be a whole number of milliseconds`);
  return problems;
}

/** A health check's interval, timeout or grace: whole milliseconds, up to an hour. */
function isHealthMs(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 3_600_000;
}

function isDataDirName(name: string): boolean {
  return DATA_DIR.test(name) && name.length <= 64;
}

/** What is wrong with a variable of `run.env`: its name, or (for an image, whose values go in a file of lines) its value. */
function envProblems(name: string, value: unknown, image: boolean): string[] {
  const problems: string[] = [];
  if (!(image ? IMAGE_ENV_NAME : ENV_NAME).test(name))
    problems.push(
      image
        ? `"run.env" name "${name}" must be letters, digits, _ and . (not starting with a digit)`
        : `"run.env" name "${name}" must look like NAME_2`,
    );
  else if (name.startsWith("BUCKY_"))
    problems.push(`"run.env" may not set ${name}: BUCKY_ variables are bucky's`);
  if (image && (typeof value !== "string" || /[\n\r\0]/.test(value) || value.length > 8192))
    problems.push(`"run.env.${name}" must be one line of text`);
  else if (typeof value !== "string") problems.push(`"run.env.${name}" must be a string`);
  return problems;
}

/** Why `name` cannot carry the app's HTTP port, if it cannot. */
function portEnvProblem(name: unknown): string | undefined {
  if (typeof name !== "string" || !ENV_NAME.test(name))
    return '"http.portEnv" must be an environment variable name';
  // The port is set after bucky's own variables, so this name could replace one.
  if (name.startsWith("BUCKY_"))
    return `"http.portEnv" may not be ${name}: BUCKY_ variables are bucky's`;
  return undefined;
}

/** "10MB/s", "512KiB/s": bytes per second; undefined when not a bandwidth. */
export function parseBandwidth(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)\/s$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[(match[2] as string).toUpperCase()];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}

function checkLimits(value: unknown, problem: (text: string) => undefined): AppManifest["limits"] {
  if (value === undefined) return {};
  if (!isRecord(value))
    return problem('"limits" must be like {"rps": 50, "bandwidth": "10MB/s"}') ?? {};
  const limits: {
    rps?: number;
    bandwidthBytesPerSecond?: number;
    memoryBytes?: number;
    cpus?: number;
  } = {};
  if (value.rps !== undefined) {
    if (typeof value.rps === "number" && Number.isInteger(value.rps) && value.rps > 0)
      limits.rps = value.rps;
    else problem('"limits.rps" must be a whole number of requests per second');
  }
  if (value.bandwidth !== undefined) {
    const rate = typeof value.bandwidth === "string" ? parseBandwidth(value.bandwidth) : undefined;
    if (rate && rate > 0) limits.bandwidthBytesPerSecond = rate;
    else problem('"limits.bandwidth" must be like "10MB/s"');
  }
  if (value.memory !== undefined) {
    const bytes = typeof value.memory === "string" ? parseSize(value.memory) : undefined;
    if (bytes !== undefined && bytes >= 6 * 1024 * 1024) limits.memoryBytes = bytes;
    else problem('"limits.memory" must be like "512MiB" (at least 6MiB)');
  }
  if (value.cpus !== undefined) {
    if (typeof value.cpus === "number" && value.cpus >= 0.01 && value.cpus <= MAX_CPUS)
      limits.cpus = Math.round(value.cpus * 100) / 100;
    else problem(`"limits.cpus" must be a number of processors from 0.01 to ${MAX_CPUS}, like 1.5`);
  }
  for (const field of Object.keys(value))
    if (!["rps", "bandwidth", "memory", "cpus"].includes(field))
      problem(`unknown field "limits.${field}"`);
  return limits;
}

/** "512MiB", "2GB", "100MB": bytes; undefined when not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]i?B|B)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[(match[2] as string).toUpperCase()];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}

/** An image app's "run": the image and its port, command, environment and root. */
function checkImageRun(
  run: Record<string, unknown>,
  problem: (text: string) => undefined,
): Omit<ImageRun, "volumes"> {
  const text = run.image;
  let image = "";
  if (typeof text !== "string")
    problem('"run.image" must be an image reference, like "nginx:1.27"');
  else {
    const parsed = parseImageRef(text);
    if (!parsed.ok) problem(`"run.image" is not an image reference: ${parsed.reason}`);
    image = text;
  }
  let port: number | undefined;
  if (run.port !== undefined) {
    if (Number.isInteger(run.port) && (run.port as number) > 0 && (run.port as number) < 65536)
      port = run.port as number;
    else problem('"run.port" must be the port the image answers HTTP on, from 1 to 65535');
  }
  let command: string[] | undefined;
  if (run.command !== undefined) {
    if (
      !Array.isArray(run.command) ||
      run.command.length === 0 ||
      run.command.length > 64 ||
      !run.command.every(
        (part) => typeof part === "string" && part.length <= 4096 && !part.includes("\0"),
      )
    )
      problem(
        '"run.command" of an image app replaces its command: a list of strings, like ["serve"]',
      );
    else command = run.command as string[];
  }
  const env = run.env ?? {};
  if (!isRecord(env)) problem('"run.env" must be an object of strings');
  else {
    for (const [name, value] of Object.entries(env)) {
      for (const why of envProblems(name, value, true)) problem(why);
    }
  }
  if (run.readOnly !== undefined && typeof run.readOnly !== "boolean")
    problem('"run.readOnly" must be true or false');
  for (const field of Object.keys(run))
    if (!["image", "port", "command", "env", "readOnly"].includes(field))
      problem(`unknown field "run.${field}"`);
  return {
    image,
    ...(port !== undefined ? { port } : {}),
    ...(command ? { command } : {}),
    env: isRecord(env) ? (env as Record<string, string>) : {},
    ...(run.readOnly === true ? { readOnly: true as const } : {}),
  };
}

/** An image app's "data": each directory's name and where it goes in the container. */
function checkVolumes(
  value: unknown,
  problem: (text: string) => undefined,
): Record<string, string> | undefined {
  if (value === undefined) return {};
  if (!isRecord(value)) {
    problem(
      '"data" of an image app says where each directory goes in the container, like {"library": "/var/lib/photos"}',
    );
    return undefined;
  }
  const entries = Object.entries(value);
  if (entries.length > 32) problem('"data" names at most 32 directories');
  const volumes: Record<string, string> = {};
  for (const [name, path] of entries) {
    if (!isDataDirName(name))
      problem(`"data" name ${JSON.stringify(name)} is not a directory name like db`);
    const why = typeof path === "string" ? containerPathProblem(path) : "is not a path";
    if (why) problem(`"data.${name}" ${why}`);
    else if (Object.values(volumes).includes(path as string))
      problem(`"data" puts two directories at ${path}`);
    volumes[name] = path as string;
  }
  return volumes;
}

/** Why `path` cannot be where a data directory goes in a container, if it cannot. */
function containerPathProblem(path: string): string | undefined {
  if (!path.startsWith("/") || path.length > 256)
    return "must be an absolute path in the container, like /var/lib/photos";
  if (/[,:\p{Cc}]/u.test(path)) return "may not hold commas, colons or control characters";
  const segments = path.split("/").slice(1);
  if (segments.some((segment) => segment === "" || segment === "." || segment === ".."))
    return "must be a plain path (no empty, . or .. parts, no trailing /)";
  for (const reserved of RESERVED_PATHS)
    if (path === reserved || path.startsWith(`${reserved}/`)) return `may not be under ${reserved}`;
  return undefined;
}

function stringList(
  value: unknown,
  field: string,
  problem: (text: string) => undefined,
  valid: (item: string) => boolean,
  what: string,
): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 32) {
    problem(`"${field}" must be a list (of at most 32)`);
    return [];
  }
  for (const item of value)
    if (typeof item !== "string" || !valid(item))
      problem(`"${field}" entry ${JSON.stringify(item)} is not ${what}`);
  return value.filter((item): item is string => typeof item === "string");
}

function positive(
  value: unknown,
  fallback: number,
  field: string,
  problem: (text: string) => undefined,
): number {
  if (value === undefined) return fallback;
  if (isHealthMs(value)) return value;
  problem(`"${field}" must be a whole number of milliseconds`);
  return fallback;
}
