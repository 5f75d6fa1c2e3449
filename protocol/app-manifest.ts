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
 */

import { permissionProblem } from "./app-permissions.ts";
import { type AppName, checkAppName, checkDeviceName } from "./names.ts";
import { isRecord } from "./shape.ts";

export const MANIFEST_FILE = "bucky-app.json";

export interface AppManifest {
  readonly id: AppName;
  readonly version: string;
  readonly description: string;
  readonly run: {
    readonly command: readonly string[];
    readonly env: Readonly<Record<string, string>>;
  };
  /** The environment variable the app's HTTP port is handed in; absent: no HTTP. */
  readonly http?: { readonly portEnv: string };
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
  readonly limits: { readonly rps?: number; readonly bandwidthBytesPerSecond?: number };
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
const DATA_DIR = /^[a-z0-9][a-z0-9._-]*$/;
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

  let run: AppManifest["run"] | undefined;
  if (!isRecord(value.run)) {
    problem('"run" is required: {"command": ["program", "arg", …]}');
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
        if (!ENV_NAME.test(name)) problem(`"run.env" name "${name}" must look like NAME_2`);
        else if (name.startsWith("BUCKY_"))
          problem(`"run.env" may not set ${name}: BUCKY_ variables are bucky's`);
        if (typeof text !== "string") problem(`"run.env.${name}" must be a string`);
      }
    }
    for (const field of Object.keys(value.run))
      if (field !== "command" && field !== "env") problem(`unknown field "run.${field}"`);
    run = { command: command as string[], env: env as Record<string, string> };
  }

  let http: AppManifest["http"];
  if (value.http !== undefined) {
    if (!isRecord(value.http)) problem('"http" must be an object, like {"portEnv": "PORT"}');
    else {
      const portEnv = value.http.portEnv ?? "PORT";
      if (typeof portEnv !== "string" || !ENV_NAME.test(portEnv))
        problem('"http.portEnv" must be an environment variable name');
      // The port is set after bucky's own variables, so this name could replace one.
      else if (portEnv.startsWith("BUCKY_"))
        problem(`"http.portEnv" may not be ${portEnv}: BUCKY_ variables are bucky's`);
      for (const field of Object.keys(value.http))
        if (field !== "portEnv") problem(`unknown field "http.${field}"`);
      http = { portEnv: portEnv as string };
    }
  }

  const data = stringList(
    value.data,
    "data",
    problem,
    (dir) => DATA_DIR.test(dir) && dir.length <= 64,
    "a directory name like db",
  );
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
    if (http === undefined) problem('"health" needs "http": the check is an HTTP request');
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
  const limits: { rps?: number; bandwidthBytesPerSecond?: number } = {};
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
  for (const field of Object.keys(value))
    if (field !== "rps" && field !== "bandwidth") problem(`unknown field "limits.${field}"`);
  return limits;
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
  if (typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 3_600_000)
    return value;
  problem(`"${field}" must be a whole number of milliseconds`);
  return fallback;
}
