import { describe, expect, test } from "bun:test";
import { type AppManifest, checkManifest, parseBandwidth } from "./app-manifest.ts";
import type { AppName } from "./names.ts";

const minimal = { id: "notes", version: "1.2.0", run: { command: ["bun", "server.ts"] } };

function problemsOf(value: unknown): string[] {
  const result = checkManifest(value);
  return result.ok ? [] : result.problems;
}

function manifestOf(value: unknown): AppManifest {
  const result = checkManifest(value);
  if (!result.ok) throw new Error(`unexpected problems: ${result.problems.join("; ")}`);
  return result.manifest;
}

describe("checkManifest", () => {
  test("standbys: a whole number of devices, up to four", () => {
    for (const standbys of [-1, 5, 1.5, "2"])
      expect(checkManifest({ ...minimal, standbys })).toEqual({
        ok: false,
        problems: ['"standbys" must be a whole number from 0 to 4'],
      });
    expect(manifestOf({ ...minimal, standbys: 0 }).standbys).toBe(0);
  });

  test("fills in the defaults of a minimal manifest", () => {
    expect(checkManifest(minimal)).toEqual({
      ok: true,
      manifest: {
        id: "notes" as AppName,
        version: "1.2.0",
        description: "",
        run: { command: ["bun", "server.ts"], env: {} },
        data: [],
        permissions: [],
        exposure: "zone",
        openPaths: [],
        limits: {},
        placement: "any",
        standbys: 1,
      },
    });
  });

  test("reads every field of a full manifest", () => {
    const full = {
      id: "notes",
      version: "1.2.0-beta+7",
      description: "Notes, shared across the zone",
      run: { command: ["bun", "server.ts", "--quiet"], env: { NOTES_MODE: "sync", _X1: "" } },
      http: { portEnv: "NOTES_PORT" },
      data: ["db", "uploads.v2"],
      permissions: ["state.read", "ndn.write", "state.read:apps/shared/"],
      network: "outbound",
      exposure: "zone",
      openPaths: ["/api/", "/share"],
      limits: { rps: 50, bandwidth: "10MB/s" },
      placement: "laptop",
      standbys: 2,
      health: { path: "/health", intervalMs: 5000, timeoutMs: 500, graceMs: 30_000 },
    };
    expect(manifestOf(full)).toEqual({
      id: "notes" as AppName,
      version: "1.2.0-beta+7",
      description: "Notes, shared across the zone",
      run: { command: ["bun", "server.ts", "--quiet"], env: { NOTES_MODE: "sync", _X1: "" } },
      http: { portEnv: "NOTES_PORT" },
      data: ["db", "uploads.v2"],
      permissions: ["state.read", "ndn.write", "state.read:apps/shared/"],
      network: "outbound",
      exposure: "zone",
      openPaths: ["/api/", "/share"],
      limits: { rps: 50, bandwidthBytesPerSecond: 10_000_000 },
      placement: "laptop",
      standbys: 2,
      health: { path: "/health", intervalMs: 5000, timeoutMs: 500, graceMs: 30_000 },
    });
  });

  test("defaults the HTTP port variable to PORT and the health timings", () => {
    const manifest = manifestOf({ ...minimal, http: {}, health: { path: "/healthz" } });
    expect(manifest.http).toEqual({ portEnv: "PORT" });
    expect(manifest.health).toEqual({
      path: "/healthz",
      intervalMs: 2000,
      timeoutMs: 1000,
      graceMs: 10_000,
    });
  });

  test('"network": "none" is the default, said or not', () => {
    expect(manifestOf({ ...minimal, network: "none" })).toEqual(manifestOf(minimal));
    expect(manifestOf(minimal).network).toBeUndefined();
  });

  test("accepts public exposure without open paths", () => {
    expect(manifestOf({ ...minimal, exposure: "public" }).exposure).toBe("public");
  });

  test("lists every problem at once", () => {
    const broken = {
      id: "Notes",
      version: "1.0 final",
      run: { command: [], env: { BUCKY_ZONE: "mine", "lower-case": "x", N: 3 }, cwd: "/" },
      data: ["db", "db", "../up"],
      permissions: ["state.read", "root", "network", "state.write:devices/", "state.read"],
      network: "host",
      exposure: "public",
      openPaths: ["/api/"],
      limits: { rps: 0, bandwidth: "fast", burst: 10 },
      placement: "Laptop",
      health: { path: "/health", intervalMs: -5 },
      colour: "blue",
    };
    expect(checkManifest(broken)).toEqual({
      ok: false,
      problems: [
        'unknown field "colour"',
        '"id" is not a valid app id: it contains "N"; use lowercase letters, digits and hyphens',
        '"version" is required: up to 32 letters, digits and . + -, like "1.0.0"',
        '"run.command" must be a non-empty list of strings, like ["bun", "server.ts"]',
        '"run.env" may not set BUCKY_ZONE: BUCKY_ variables are bucky\'s',
        '"run.env" name "lower-case" must look like NAME_2',
        '"run.env.N" must be a string',
        'unknown field "run.cwd"',
        '"data" entry "../up" is not a directory name like db',
        '"data" names a directory twice',
        '"permissions": "root" is not one of state.read, state.write, ndn.read, ndn.write, state.read:<prefix>, state.write:<prefix>',
        '"permissions": "network" is not a permission: an app that needs the network says "network": "outbound"',
        '"permissions": "state.write:devices/" must name a prefix under apps/ that ends with /, like state.read:apps/shared/',
        '"permissions" lists one twice',
        '"network" must be "none" or "outbound"',
        '"openPaths" only matters for "zone" exposure: a public app is open everywhere',
        '"limits.rps" must be a whole number of requests per second',
        '"limits.bandwidth" must be like "10MB/s"',
        'unknown field "limits.burst"',
        '"placement" must be "any" or a device name',
        '"health.intervalMs" must be a whole number of milliseconds',
        '"health" needs "http": the check is an HTTP request',
      ],
    });
  });

  test("names the required fields when they are missing", () => {
    expect(problemsOf({})).toEqual([
      '"id" is required: a name like "notes"',
      '"version" is required: up to 32 letters, digits and . + -, like "1.0.0"',
      '"run" is required: {"command": ["program", "arg", …]}, or {"image": "registry/name:tag", "port": 8080}',
    ]);
  });

  test.each([
    ["an array", [minimal]],
    ["null", null],
    ["a string", "notes"],
  ])("refuses %s as a whole", (_what, value) => {
    expect(checkManifest(value)).toEqual({
      ok: false,
      problems: ["the manifest must be a JSON object"],
    });
  });

  test.each(["BUCKY_APP_TOKEN", "BUCKY_", "BUCKY_DATA_DIR"])("refuses to set %s", (name) => {
    expect(problemsOf({ ...minimal, run: { ...minimal.run, env: { [name]: "x" } } })).toEqual([
      `"run.env" may not set ${name}: BUCKY_ variables are bucky's`,
    ]);
  });

  test.each(["BUCKY_APP_TOKEN", "BUCKY_PORT"])("refuses %s as the HTTP port variable", (name) => {
    expect(problemsOf({ ...minimal, http: { portEnv: name } })).toEqual([
      `"http.portEnv" may not be ${name}: BUCKY_ variables are bucky's`,
    ]);
  });

  test("allows names that merely contain BUCKY", () => {
    const env = { MY_BUCKY_HOME: "x", BUCKYX: "y" };
    expect(manifestOf({ ...minimal, run: { ...minimal.run, env } }).run.env).toEqual(env);
  });

  test("refuses a health check without http", () => {
    expect(problemsOf({ ...minimal, health: { path: "/health" } })).toEqual([
      '"health" needs "http": the check is an HTTP request',
    ]);
  });

  test("refuses a health check without a path", () => {
    expect(problemsOf({ ...minimal, http: {}, health: { intervalMs: 1000 } })).toEqual([
      '"health" must be like {"path": "/health"}',
    ]);
  });

  test("refuses open paths under public exposure", () => {
    expect(problemsOf({ ...minimal, exposure: "public", openPaths: ["/"] })).toEqual([
      '"openPaths" only matters for "zone" exposure: a public app is open everywhere',
    ]);
  });

  test.each<[string, Record<string, unknown>, string[]]>([
    [
      "a description over 500 characters",
      { description: "x".repeat(501) },
      ['"description" must be text of at most 500 characters'],
    ],
    [
      "a version over 32 characters",
      { version: "1".repeat(33) },
      ['"version" is required: up to 32 letters, digits and . + -, like "1.0.0"'],
    ],
    ["an unknown exposure", { exposure: "world" }, ['"exposure" must be "public" or "zone"']],
    [
      "an open path without a slash",
      { openPaths: ["api"] },
      ['"openPaths" entry "api" is not a path starting with /'],
    ],
    [
      "a data list of 33",
      { data: Array.from({ length: 33 }, (_, i) => `d${i}`) },
      ['"data" must be a list (of at most 32)'],
    ],
    [
      "a data directory starting with a dot",
      { data: [".git"] },
      ['"data" entry ".git" is not a directory name like db'],
    ],
    [
      "an http port variable in lowercase",
      { http: { portEnv: "port" } },
      ['"http.portEnv" must be an environment variable name'],
    ],
    ["an unknown http field", { http: { port: 8080 } }, ['unknown field "http.port"']],
    [
      "limits as a string",
      { limits: "10MB/s" },
      ['"limits" must be like {"rps": 50, "bandwidth": "10MB/s"}'],
    ],
    [
      "a fractional rps",
      { limits: { rps: 1.5 } },
      ['"limits.rps" must be a whole number of requests per second'],
    ],
    [
      "a bandwidth of zero",
      { limits: { bandwidth: "0MB/s" } },
      ['"limits.bandwidth" must be like "10MB/s"'],
    ],
    [
      "a command with an empty part",
      { run: { command: ["bun", ""] } },
      ['"run.command" must be a non-empty list of strings, like ["bun", "server.ts"]'],
    ],
    [
      "run.env as a list",
      { run: { command: ["bun"], env: ["A=1"] } },
      ['"run.env" must be an object of strings'],
    ],
  ])("refuses %s", (_what, changes, problems) => {
    expect(problemsOf({ ...minimal, ...changes })).toEqual(problems);
  });
});

describe("checkManifest of an image app", () => {
  const photos = {
    id: "photos",
    version: "1.4",
    run: { image: "registry.example/photos:1.4", port: 8080 },
    data: { library: "/var/lib/photos", db: "/var/lib/photos-db" },
  };

  test("reads the image, its port and where each data directory goes", () => {
    expect(
      manifestOf({
        ...photos,
        run: {
          ...photos.run,
          env: { TZ: "UTC", "discovery.type": "single-node", lower_case: "" },
          command: ["serve", "--verbose"],
          readOnly: true,
        },
        limits: { memory: "512MiB", cpus: 1.5, rps: 20 },
        health: { path: "/" },
      }),
    ).toEqual({
      id: "photos" as AppName,
      version: "1.4",
      description: "",
      run: {
        image: "registry.example/photos:1.4",
        port: 8080,
        command: ["serve", "--verbose"],
        env: { TZ: "UTC", "discovery.type": "single-node", lower_case: "" },
        volumes: { library: "/var/lib/photos", db: "/var/lib/photos-db" },
        readOnly: true,
      },
      data: ["library", "db"],
      permissions: [],
      exposure: "zone",
      openPaths: [],
      limits: { rps: 20, memoryBytes: 512 * 1024 ** 2, cpus: 1.5 },
      placement: "any",
      standbys: 1,
      health: { path: "/", intervalMs: 2000, timeoutMs: 1000, graceMs: 10_000 },
    });
  });

  test("an image app without data or a port is one too", () => {
    expect(manifestOf({ id: "worker", version: "1", run: { image: "busybox" } }).run).toEqual({
      image: "busybox",
      env: {},
      volumes: {},
    });
  });

  test("lists every problem of an image app at once", () => {
    expect(
      problemsOf({
        ...photos,
        run: {
          image: "Registry.example/Photos",
          port: 70_000,
          env: { BUCKY_APP: "x", "1st": "y", MULTI: "a\nb" },
          command: "serve",
          readOnly: "yes",
          user: "root",
        },
        http: { portEnv: "PORT" },
        data: {
          library: "relative/path",
          cfg: "/etc/resolv.conf",
          proc: "/proc/self",
          up: "/var/../etc",
          twice: "/var/lib/photos",
          again: "/var/lib/photos",
          "Bad Name": "/x",
          comma: "/a,b",
        },
        limits: { memory: "1KB", cpus: 0 },
        health: { path: "/" },
      }),
    ).toEqual([
      '"run.image" is not an image reference: "Photos" is not a repository name part (lowercase letters, digits and . _ -)',
      '"run.port" must be the port the image answers HTTP on, from 1 to 65535',
      '"run.command" of an image app replaces its command: a list of strings, like ["serve"]',
      '"run.env" may not set BUCKY_APP: BUCKY_ variables are bucky\'s',
      '"run.env" name "1st" must be letters, digits, _ and . (not starting with a digit)',
      '"run.env.MULTI" must be one line of text',
      '"run.readOnly" must be true or false',
      'unknown field "run.user"',
      '"data.library" must be an absolute path in the container, like /var/lib/photos',
      '"data.cfg" may not be under /etc/resolv.conf',
      '"data.proc" may not be under /proc',
      '"data.up" must be a plain path (no empty, . or .. parts, no trailing /)',
      '"data" puts two directories at /var/lib/photos',
      '"data" name "Bad Name" is not a directory name like db',
      '"data.comma" may not hold commas, colons or control characters',
      '"http" is for apps run from a command: an image app names its port in "run.port"',
      '"limits.memory" must be like "512MiB" (at least 6MiB)',
      '"limits.cpus" must be a number of processors from 0.01 to 256, like 1.5',
      '"health" needs "run.port": the check is an HTTP request',
    ]);
  });

  test("data as a list is for apps run from a command, and a map for image apps", () => {
    expect(problemsOf({ ...photos, data: ["library"] })).toEqual([
      '"data" of an image app says where each directory goes in the container, like {"library": "/var/lib/photos"}',
    ]);
    expect(problemsOf({ ...minimal, data: { db: "/db" } })).toEqual([
      '"data" maps directories to paths only for an image app: an app run from a command lists them, like ["db"]',
    ]);
  });

  test("memory and processor limits are an image app's only", () => {
    expect(problemsOf({ ...minimal, limits: { memory: "1GB", cpus: 2 } })).toEqual([
      '"limits.memory" and "limits.cpus" apply to image apps (their container) only',
    ]);
  });
});

describe("parseBandwidth", () => {
  test.each<[string, number]>([
    ["10MB/s", 10_000_000],
    ["512KiB/s", 524_288],
    ["1B/s", 1],
    ["2GB/s", 2_000_000_000],
    ["1GiB/s", 1024 ** 3],
    ["1.5MB/s", 1_500_000],
    ["3MiB/s", 3 * 1024 ** 2],
    ["10 MB/s", 10_000_000],
    [" 10mb/s ", 10_000_000],
    ["0.5KB/s", 500],
  ])("reads %s as %d bytes per second", (text, bytesPerSecond) => {
    expect(parseBandwidth(text)).toBe(bytesPerSecond);
  });

  test.each([
    "",
    "fast",
    "10MB",
    "10/s",
    "MB/s",
    "-1MB/s",
    "10TB/s",
    "10Mbps",
    "10 MB / s",
    "1e6B/s",
    ".5MB/s",
    "10MB/s/s",
    "10 B/sec",
  ])("refuses %j", (text) => {
    expect(parseBandwidth(text)).toBeUndefined();
  });
});
