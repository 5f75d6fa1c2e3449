/**
 * dApps end to end: installed on one device, run by the device the zone state assigns,
 * restarted when they die, upgraded with their data, removed with or without it, moved
 * when their device goes away; and every fault reported clearly without disturbing the rest.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import {
  appFetch,
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FIXTURES = resolve(import.meta.dir, "../fixtures/apps");
/** Devices say they are alive every 300 ms, so an `any` app moves within about a second. */
const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

interface Status {
  app: string;
  version: string;
  state: string;
  device: string | null;
  url: string | null;
  sandboxed: boolean;
  restarts: number;
  error: string | null;
  reportedBy: string | null;
}

let alpha: Daemon;
let beta: Daemon;

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], FAST);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
});

async function status(app: string, home = alpha.home): Promise<Status> {
  return buckyJson<Status>(["app", "status", app, "--home", home]);
}

/** Waits until the app's status satisfies `ready`, then returns it. */
function until(
  app: string,
  what: string,
  ready: (s: Status) => boolean,
  timeoutMs = 15_000,
): Promise<Status> {
  return waitFor(
    `${app} to be ${what}`,
    async () => {
      const s = await status(app).catch(() => undefined);
      return s && ready(s) ? s : undefined;
    },
    timeoutMs,
  );
}

/** A copy of a fixture app, or a new app from a manifest and files, in a fresh directory. */
function appDir(from: string | { manifest: object; files: Record<string, string> }): string {
  const dir = join(scratchDir(), "app");
  if (typeof from === "string") {
    cpSync(join(FIXTURES, from), dir, { recursive: true });
  } else {
    mkdirSync(dir);
    for (const [name, text] of Object.entries(from.files)) writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, "bucky-app.json"), JSON.stringify(from.manifest));
  }
  return dir;
}

function bump(dir: string, version: string): void {
  const path = join(dir, "bucky-app.json");
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), version }));
}

async function answers(url: string, path: string): Promise<Response | undefined> {
  return appFetch(url, path, { signal: AbortSignal.timeout(2000) }).catch(() => undefined);
}

describe("the notes app, installed on alpha, pinned to beta", () => {
  let notesDir: string;

  test("runs on beta and answers HTTP", async () => {
    notesDir = appDir("notes");
    const installed = await buckyJson([
      "app",
      "install",
      notesDir,
      "--device",
      "beta",
      "--home",
      alpha.home,
    ]);
    expect(installed).toEqual({
      app: "notes",
      version: "1.0.0",
      package: expect.stringMatching(/^sha256:/),
      device: "beta",
      upgradedFrom: null,
      unsandboxed: false,
      addresses: [],
      exposure: "zone",
      state: "running",
      runsOn: "beta",
      error: null,
      reportedBy: "beta",
      heldElsewhere: "held",
    });
    const running = await until("notes", "running", (s) => s.state === "running");
    expect(running).toMatchObject({
      app: "notes",
      version: "1.0.0",
      device: "beta",
      state: "running",
    });
    expect((await answers(running.url as string, "/health"))?.status).toBe(200);
    // Every device tells the same story.
    expect((await status("notes", beta.home)).device).toBe("beta");
    expect(existsSync(join(beta.home, "apps", "notes", "pid"))).toBe(true);
    expect(existsSync(join(alpha.home, "apps", "notes", "pid"))).toBe(false);
  });

  test("comes back when its process is killed", async () => {
    const before = await status("notes");
    process.kill(Number(readFileSync(join(beta.home, "apps", "notes", "pid"), "utf8")), "SIGKILL");
    const after = await until(
      "notes",
      "running again",
      (s) => s.state === "running" && s.restarts > before.restarts,
    );
    expect((await answers(after.url as string, "/health"))?.status).toBe(200);
  });

  test("keeps its notes through an upgrade", async () => {
    const { url } = await status("notes");
    const created = await appFetch(url as string, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text: "buy milk" }),
    });
    expect(created.status).toBe(201);
    // Through its app API, with the permission its manifest lists, it told the zone.
    const latest = await buckyJson<{ value: { text: string } }>([
      "state",
      "get",
      "apps/notes/latest",
      "--home",
      alpha.home,
    ]);
    expect(latest.value.text).toBe("buy milk");
    bump(notesDir, "1.1.0");
    const upgraded = await buckyJson<{ upgradedFrom: string }>([
      "app",
      "install",
      notesDir,
      "--device",
      "beta",
      "--home",
      alpha.home,
    ]);
    expect(upgraded.upgradedFrom).toBe("1.0.0");
    const running = await until(
      "notes",
      "running 1.1.0",
      (s) => s.state === "running" && s.version === "1.1.0",
    );
    const listed = (await (await appFetch(running.url as string, "/api/notes")).json()) as {
      version: string;
      notes: { text: string }[];
    };
    expect([listed.version, listed.notes.map((n) => n.text)]).toEqual(["1.1.0", ["buy milk"]]);
  });

  test("its logs come from beta", async () => {
    const logs = await buckyJson<{ device: string; lines: string[] }>([
      "app",
      "logs",
      "notes",
      "--home",
      alpha.home,
    ]);
    expect(logs.device).toBe("beta");
    expect(logs.lines.some((line) => line.startsWith("notes 1.1.0 on port"))).toBe(true);
  });

  test("stop and start", async () => {
    const { url } = await status("notes");
    await buckyJson(["app", "stop", "notes", "--home", alpha.home]);
    await until("notes", "stopped", (s) => s.state === "stopped");
    await waitFor("the process to end", async () =>
      (await answers(url as string, "/health")) ? undefined : true,
    );
    await buckyJson(["app", "start", "notes", "--home", alpha.home]);
    await until("notes", "running", (s) => s.state === "running");
  });

  test("remove stops it and keeps the data; --purge deletes it", async () => {
    const { url } = await status("notes");
    const dbFile = join(beta.home, "apps", "notes", "data", "db", "notes.db");
    expect(await buckyJson(["app", "remove", "notes", "--home", alpha.home])).toEqual({
      app: "notes",
      removed: true,
      purged: false,
      // beta, which runs it, holds the removal before the command answers.
      heldElsewhere: "held",
    });
    await waitFor("the process to end", async () =>
      (await answers(url as string, "/health")) ? undefined : true,
    );
    expect((await bucky(["app", "status", "notes", "--home", alpha.home])).exitCode).toBe(1);
    expect(existsSync(dbFile)).toBe(true);
    // Beta forgets its report of the install removed, on every device: an install anew of
    // the same package would take its words ("running" at the old address, "stopped",
    // "crashed") for its own.
    await waitFor("beta's report of notes to go", async () => {
      const report = await bucky(["state", "get", "nodes/beta/apps/notes", "--home", alpha.home]);
      return report.exitCode === 1 ? true : undefined;
    });

    // Installed again, it waits for beta to run it anew.
    const again = (await buckyJson([
      "app",
      "install",
      notesDir,
      "--device",
      "beta",
      "--home",
      alpha.home,
    ])) as { state: string };
    expect(again.state).toBe("running");
    const back = await until("notes", "running", (s) => s.state === "running");
    const listed = (await (await appFetch(back.url as string, "/api/notes")).json()) as {
      notes: { text: string }[];
    };
    expect(listed.notes.map((n) => n.text)).toEqual(["buy milk"]);

    await buckyJson(["app", "remove", "notes", "--purge", "--home", alpha.home]);
    await waitFor("the data to go", () => (existsSync(dbFile) ? undefined : true));
  });
});

describe("an app placed on any device", () => {
  test("moves to the other device when its device's daemon stops", async () => {
    const zone = await startZone(["one", "two"], FAST);
    const one = zone.get("one") as Daemon;
    const two = zone.get("two") as Daemon;
    await buckyJson(["app", "install", appDir("site"), "--home", one.home]);
    const first = await waitFor("site to run", async () => {
      const s = await buckyJson<Status>(["app", "status", "site", "--home", one.home]);
      return s.state === "running" ? s : undefined;
    });
    const [leaving, staying] = first.device === "one" ? [one, two] : [two, one];
    const page = await answers(first.url as string, "/");
    expect(await page?.text()).toContain("Hello from my zone");

    expect(await leaving.stop()).toBe(0);
    const moved = await waitFor(
      "site to move",
      async () => {
        const s = await buckyJson<Status>(["app", "status", "site", "--home", staying.home]);
        return s.state === "running" && s.device !== first.device ? s : undefined;
      },
      15_000,
    );
    expect((await answers(moved.url as string, "/"))?.status).toBe(200);
    await startDaemon(leaving.home, FAST);
  });
});

describe("where bucky itself lives", () => {
  test("apps run even when the bucky binary is under /tmp, which the sandbox replaces", async () => {
    const binary = join(scratchDir(), "bucky");
    cpSync(BUCKY, binary);
    chmodSync(binary, 0o755);
    const home = join(scratchDir(), "home");
    await buckyJson(["init", "--home", home]);
    await startDaemon(home, FAST, { binary });
    await buckyJson(["app", "install", appDir("site"), "--home", home]);
    const s = await waitFor("site to run", async () => {
      const x = await buckyJson<Status>(["app", "status", "site", "--home", home]);
      return x.state === "running" ? x : undefined;
    });
    expect((await answers(s.url as string, "/"))?.status).toBe(200);
  });
});

describe("without bubblewrap", () => {
  let solo: Daemon;

  test("an app is refused unless the owner lets it run unsandboxed", async () => {
    solo = (await startZone(["solo"], { ...FAST, BUCKY_SANDBOX: "off" })).get("solo") as Daemon;
    expect(solo.log()).toContain("bubblewrap is not usable here");
    const refused = await bucky(["app", "install", appDir("site"), "--home", solo.home, "--json"]);
    expect([refused.exitCode, jsonError(refused).code]).toEqual([1, "E_PERMISSION"]);
    // Why is solo's own record: said to be its words.
    expect(jsonError(refused).message).toBe(
      'site would run without a sandbox (every file and the network of its device in its reach) on solo (solo says "the sandbox is turned off (BUCKY_SANDBOX=off)")',
    );
    expect(jsonError(refused).hint).toContain("--unsandboxed");
    const { apps } = await buckyJson<{ apps: Status[] }>(["app", "list", "--home", solo.home]);
    expect(apps).toEqual([]);
  });

  test("with --unsandboxed it runs, and says everywhere that it is not sandboxed", async () => {
    const installed = await buckyJson<{ unsandboxed: boolean }>([
      "app",
      "install",
      appDir("site"),
      "--unsandboxed",
      "--home",
      solo.home,
    ]);
    expect(installed.unsandboxed).toBe(true);
    const s = await waitFor("site to run", async () => {
      const x = await buckyJson<Status>(["app", "status", "site", "--home", solo.home]);
      return x.state === "running" ? x : undefined;
    });
    expect(s.sandboxed).toBe(false);
    expect((await answers(s.url as string, "/"))?.status).toBe(200);
    const text = await bucky(["app", "status", "site", "--home", solo.home]);
    expect(text.stdout).toContain("sandboxed  no: install bubblewrap on that device to isolate it");
    const status = await buckyJson<{ warnings: string[] }>(["status", "--home", solo.home]);
    expect(status.warnings).toEqual([
      'solo cannot sandbox apps, solo says "the sandbox is turned off (BUCKY_SANDBOX=off)": install bubblewrap there and restart its daemon',
      "app site runs on solo without a sandbox",
    ]);
    expect((await bucky(["status", "--home", solo.home])).stdout).toContain(
      "  ! app site runs on solo without a sandbox",
    );
  });
});

describe("faults are reported clearly and leave the rest running", () => {
  const bystander = "site";

  test("setup: a healthy bystander app", async () => {
    await buckyJson(["app", "install", appDir("site"), "--device", "alpha", "--home", alpha.home]);
    await until(bystander, "running", (s) => s.state === "running");
  });

  const faulty = (
    id: string,
    run: object,
    extra: object = {},
    files: Record<string, string> = {},
  ) =>
    appDir({
      manifest: { id, version: "1.0.0", run, http: {}, placement: "alpha", ...extra },
      files,
    });

  test("a command that does not exist", async () => {
    await buckyJson([
      "app",
      "install",
      faulty("ghost", { command: ["no-such-program-anywhere"] }),
      "--home",
      alpha.home,
    ]);
    const s = await until("ghost", "crashed", (x) => x.state === "crashed");
    expect(s.error).toContain("no-such-program-anywhere");
  });

  test("a process that exits at once", async () => {
    await buckyJson([
      "app",
      "install",
      faulty(
        "quitter",
        { command: ["bun", "quit.ts"] },
        {},
        { "quit.ts": 'console.error("bye"); process.exit(3);\n' },
      ),
      "--home",
      alpha.home,
    ]);
    const s = await until(
      "quitter",
      "crashed",
      (x) => x.state === "crashed" && (x.error ?? "").includes("exited with code 3"),
    );
    expect(s.error).toContain("bye");
    // What went wrong is the report of the device running it: said as its words, on one line.
    expect(s.reportedBy).toBe("alpha");
    const problem = await waitFor("its problem in bucky app status", async () =>
      (await bucky(["app", "status", "quitter", "--home", alpha.home])).stdout
        .split("\n")
        .find((line) => line.includes("exited with code 3")),
    );
    expect(problem).toMatch(/^ {2}problem {4}alpha says "[^"]*exited with code 3.*"$/);
  });

  test("an app that never becomes healthy", async () => {
    const server =
      "Bun.serve({ hostname: '127.0.0.1', port: Number(process.env.PORT), fetch: () => new Response('no', { status: 500 }) });\n";
    await buckyJson([
      "app",
      "install",
      faulty(
        "sulky",
        { command: ["bun", "s.ts"] },
        { health: { path: "/health", intervalMs: 200, graceMs: 1000 } },
        { "s.ts": server },
      ),
      "--home",
      alpha.home,
    ]);
    const s = await until("sulky", "unhealthy", (x) => x.state === "unhealthy");
    expect(s.error).toContain("HTTP 500");
  });

  test("an app that writes outside its data directory is denied (under bubblewrap)", async () => {
    // Outside /tmp (private to a sandboxed app), in a directory of the host it cannot see.
    const outsideDir = mkdtempSync("/var/tmp/bucky-escape-");
    const outside = join(outsideDir, "escaped.txt");
    const script = `
      import { readFileSync, writeFileSync } from "node:fs";
      import { join } from "node:path";
      try { writeFileSync(${JSON.stringify(outside)}, "out"); console.log("wrote outside"); } catch (e) { console.log("outside denied: " + e.code); }
      try { readFileSync(${JSON.stringify(join(alpha.home, "identity", "device.key"))}); console.log("read the device key"); } catch (e) { console.log("keys hidden: " + e.code); }
      writeFileSync(join(process.env.BUCKY_DATA_DIR, "inside.txt"), "in"); console.log("wrote inside");
      Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response("ok") });
    `;
    await buckyJson([
      "app",
      "install",
      faulty("escaper", { command: ["bun", "e.ts"] }, {}, { "e.ts": script }),
      "--home",
      alpha.home,
    ]);
    const s = await until("escaper", "running", (x) => x.state === "running");
    const logs = await buckyJson<{ lines: string[] }>([
      "app",
      "logs",
      "escaper",
      "--home",
      alpha.home,
    ]);
    expect(logs.lines).toContain("wrote inside");
    if (!s.sandboxed) {
      console.warn(
        "\n!!! bubblewrap is not usable on this machine: the sandbox test only checks that status says so.\n",
      );
      return;
    }
    // The directory is not there at all for it: only its own files and the system's are.
    expect(logs.lines).toContain("outside denied: ENOENT");
    expect(logs.lines).toContain("keys hidden: ENOENT");
    expect(existsSync(outside)).toBe(false);
    rmSync(outsideDir, { recursive: true });
  });

  test("the same id with different files is refused", async () => {
    const other = appDir({
      manifest: { id: "site", version: "1.0.0", run: { command: ["bun", "x.ts"] } },
      files: { "x.ts": "" },
    });
    const result = await bucky(["app", "install", other, "--home", alpha.home, "--json"]);
    expect([result.exitCode, jsonError(result).code]).toEqual([1, "E_EXISTS"]);
  });

  test("an invalid manifest is refused with every problem, and nothing is installed", async () => {
    const bad = appDir({
      manifest: { id: "Bad App", run: { command: [] }, exposure: "everyone", colour: "red" },
      files: {},
    });
    const result = await bucky(["app", "install", bad, "--home", alpha.home, "--json"]);
    expect(result.exitCode).toBe(2);
    const message = jsonError(result).message;
    for (const problem of [
      'unknown field "colour"',
      '"id" is not a valid app id',
      '"version" is required',
      '"run.command" must be',
      '"exposure" must be',
    ]) {
      expect(message).toContain(problem);
    }
    const { apps } = await buckyJson<{ apps: Status[] }>(["app", "list", "--home", alpha.home]);
    expect(apps.map((a) => a.app)).not.toContain("Bad App");
  });

  test("a package altered on the device serving it is refused by the device that would run it", async () => {
    await beta.stop();
    const dir = faulty(
      "tampered",
      { command: ["bun", "t.ts"] },
      { placement: "beta" },
      { "t.ts": "console.log('should never run')\n" },
    );
    const { package: id } = await buckyJson<{ package: string }>([
      "app",
      "install",
      dir,
      "--no-wait",
      "--device",
      "beta",
      "--home",
      alpha.home,
    ]);
    const hex = id.slice("sha256:".length);
    const file = join(alpha.home, "ndn", "chunks", hex.slice(0, 2), hex);
    const bytes = readFileSync(file);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 1;
    writeFileSync(file, bytes);
    beta = await startDaemon(beta.home, FAST);
    const s = await until(
      "tampered",
      "refused",
      (x) => x.state === "crashed" && (x.error ?? "").includes("failed verification"),
    );
    expect(s.device).toBe("beta");
    expect(existsSync(join(beta.home, "apps", "tampered", "packages"))).toBe(false);
  });

  test("removing a running app leaves the others running", async () => {
    await buckyJson(["app", "remove", "sulky", "--home", alpha.home]);
    const site = await status(bystander);
    expect(site.state).toBe("running");
    expect((await answers(site.url as string, "/"))?.status).toBe(200);
  });
});
