/**
 * The app sandbox and the app API, attacked from inside an app: apps that try to read what
 * is not theirs (the system's secrets, another app's data, bucky's home, root's files), to
 * reach other apps and zone-only services over loopback, to call the app API beyond the
 * permissions their manifest lists; and one that uses its permissions as intended.
 * Everything here runs under real bubblewrap, as CI runs it (root, bubblewrap and
 * slirp4netns installed): a machine without them fails these tests, saying why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { appTmpBytes } from "../lib/apps/app-limits.ts";
import {
  appOrigin,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

interface Status {
  app: string;
  state: string;
  url: string | null;
  sandboxed: boolean;
  error: string | null;
}

let box: Daemon;
let gateway: string;
/** A service on the host's loopback that no app may reach: a zone-only service, say. */
let hostService: ReturnType<typeof Bun.serve>;
/** A file of root's outside bucky's home, like an SFTP identity. */
let rootSecretDir: string;

beforeAll(async () => {
  box = (await startZone(["box"], FAST)).get("box") as Daemon;
  gateway = await enableGateway(box.home);
  hostService = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response("the host's loopback"),
  });
  rootSecretDir = join("/root", `.bucky-sandbox-test-${process.pid}`);
  mkdirSync(rootSecretDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(rootSecretDir, "id_ed25519"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
});

afterAll(() => {
  hostService?.stop(true);
  if (rootSecretDir) rmSync(rootSecretDir, { recursive: true, force: true });
});

async function status(app: string): Promise<Status> {
  return buckyJson<Status>(["app", "status", app, "--home", box.home]);
}

function running(app: string): Promise<Status> {
  return waitFor(
    `${app} to run`,
    async () => {
      const s = await status(app).catch(() => undefined);
      return s?.state === "running" ? s : undefined;
    },
    20_000,
  );
}

/** Installs an app made of one script, `main.ts`, and the manifest fields given. */
async function install(id: string, script: string, manifest: object = {}): Promise<void> {
  const dir = join(scratchDir(), id);
  mkdirSync(dir);
  writeFileSync(join(dir, "main.ts"), script);
  writeFileSync(
    join(dir, "bucky-app.json"),
    JSON.stringify({
      id,
      version: "1.0.0",
      run: { command: ["bun", "main.ts"] },
      http: {},
      placement: "box",
      ...manifest,
    }),
  );
  await buckyJson(["app", "install", dir, "--home", box.home]);
}

const dataDir = (app: string) => join(box.home, "apps", app, "data");

/** What an app wrote to `results.json` in its data directory, once it has. */
function resultsOf(app: string): Promise<Record<string, string>> {
  const file = join(dataDir(app), "results.json");
  return waitFor(
    `${app}'s results`,
    () => (existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined),
    20_000,
  );
}

/** Script lines every probing app shares: `attempt` records an outcome or the error code. */
const PRELUDE = `
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
const results = {};
const code = (e) => e?.code ?? e?.name ?? String(e);
async function attempt(name, work) {
  try { results[name] = await work(); } catch (e) { results[name] = code(e); }
}
function reach(target) {
  return new Promise((resolve) => {
    const socket = connect(target);
    const done = (outcome) => { socket.destroy(); resolve(outcome); };
    socket.setTimeout(3000, () => done("timeout"));
    socket.on("connect", () => done("connected"));
    socket.on("error", (e) => done(code(e)));
  });
}
const api = async (method, path, body, token = process.env.BUCKY_APP_TOKEN) => {
  const socket = process.env.BUCKY_API_SOCKET;
  if (!socket) return "no BUCKY_API_SOCKET";
  const response = await fetch("http://app" + path, {
    unix: socket,
    method,
    headers: token == null ? {} : { authorization: "Bearer " + token },
    ...(body === undefined ? {} : { body }),
  });
  return response.status + " " + (await response.text());
};
const serve = () =>
  Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response("ok") });
const finish = () => writeFileSync(join(process.env.BUCKY_DATA_DIR, "results.json"), JSON.stringify(results));
`;

/** Where a reported app URL is reached from inside another app: its TCP port or its socket. */
function targetOf(url: string): { host: string; port: number } | { path: string } {
  if (url.startsWith("unix:")) return { path: url.slice("unix:".length) };
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

describe("an app in the sandbox", () => {
  let vault: Status;
  let probe: Record<string, string>;
  let vaultUid: number;

  test("setup: a zone-only app with a secret, and a prober that tries everything", async () => {
    await install(
      "vault",
      `${PRELUDE}
      writeFileSync(join(process.env.BUCKY_DATA_DIR, "secret.txt"), "the vault's secret");
      results.uid = String(process.getuid());
      finish();
      serve();`,
      { exposure: "zone", data: ["keep"] },
    );
    vault = await running("vault");
    if (!vault.sandboxed)
      throw new Error(
        "bubblewrap is not usable here, so the sandbox cannot be tested: install bubblewrap and run the tests as root",
      );
    vaultUid = Number((await resultsOf("vault")).uid);

    const peerPort = Number(new URL(box.addresses[0] as string).port);
    const targets = {
      files: {
        shadow: "/etc/shadow",
        rootSecret: join(rootSecretDir, "id_ed25519"),
        deviceKey: join(box.home, "identity", "device.key"),
        stateDb: join(box.home, "state.db"),
        otherAppData: join(dataDir("vault"), "secret.txt"),
        hostPasswd: "/etc/machine-id",
      },
      sockets: {
        hostService: { host: "127.0.0.1", port: Number(hostService.port) },
        peerApi: { host: "127.0.0.1", port: peerPort },
        gateway: { host: "127.0.0.1", port: Number(new URL(gateway).port) },
        otherApp: targetOf(vault.url as string),
        daemonSocket: { path: join(box.home, "daemon.sock") },
      },
    };
    await install(
      "prober",
      `${PRELUDE}
      const targets = JSON.parse(process.env.PROBE_TARGETS);
      for (const [name, path] of Object.entries(targets.files))
        await attempt("read " + name, () => (readFileSync(path), "read"));
      for (const [name, target] of Object.entries(targets.sockets))
        await attempt("reach " + name, () => reach(target));
      await attempt("write /usr", () => (writeFileSync("/usr/escaped", "x"), "wrote"));
      await attempt("write its package", () => (writeFileSync(join(process.cwd(), "x"), "x"), "wrote"));
      await attempt("write its data", () => (writeFileSync(join(process.env.BUCKY_DATA_DIR, "x"), "x"), "wrote"));
      const unshare = Bun.spawnSync(["unshare", "--user", "true"], { stderr: "pipe" });
      results["make a user namespace"] = unshare.exitCode === 0 ? "made" : unshare.stderr.toString().trim();
      results.uid = String(process.getuid());
      results.gid = String(process.getgid());
      results.capabilities = /CapEff:\\s*(\\w+)/.exec(readFileSync("/proc/self/status", "utf8"))[1];
      finish();
      serve();`,
      { run: { command: ["bun", "main.ts"], env: { PROBE_TARGETS: JSON.stringify(targets) } } },
    );
    await running("prober");
    probe = await resultsOf("prober");
  });

  test("sees none of the system's secrets, root's files, bucky's home or another app's data", () => {
    expect(probe).toMatchObject({
      "read shadow": "ENOENT",
      "read rootSecret": "ENOENT",
      "read deviceKey": "ENOENT",
      "read stateDb": "ENOENT",
      "read otherAppData": "ENOENT",
      "read hostPasswd": "ENOENT",
    });
  });

  test("reaches neither the host's loopback, the daemon's ports, nor another app", () => {
    expect(probe).toMatchObject({
      "reach hostService": "ECONNREFUSED",
      "reach peerApi": "ECONNREFUSED",
      "reach gateway": "ECONNREFUSED",
      "reach otherApp": "ENOENT",
      "reach daemonSocket": "ENOENT",
    });
  });

  test("writes only its data directory", () => {
    expect(probe).toMatchObject({
      "write /usr": "EROFS",
      "write its package": "EROFS",
      "write its data": "wrote",
    });
    expect(readFileSync(join(dataDir("prober"), "x"), "utf8")).toBe("x");
  });

  test("cannot make a user namespace (the kernel's larger surface stays shut)", () => {
    expect(probe["make a user namespace"]).toMatch(
      /^unshare: unshare failed: (Operation not permitted|No space left on device)$/,
    );
  });

  test("runs as a user of its own with no capabilities, owning its data", () => {
    const uid = Number(probe.uid);
    expect([uid === 0, uid === vaultUid, probe.uid === probe.gid, probe.capabilities]).toEqual([
      false,
      false,
      true,
      "0000000000000000",
    ]);
    expect(statSync(dataDir("prober")).uid).toBe(uid);
    expect(statSync(join(dataDir("vault"), "keep")).uid).toBe(vaultUid);
    // On the host, no other user (another app's included) may enter an app's data.
    expect(statSync(dataDir("vault")).mode & 0o777).toBe(0o700);
  });

  test("is still reached through the gateway, which asks a session for a zone-only app", async () => {
    const vault = await appOrigin(gateway, "vault");
    const page = await fetch(`${vault}/`, { redirect: "manual" });
    expect(page.status).toBe(401);
    const { url } = await buckyJson<{ url: string }>(["login-link", "--home", box.home]);
    const link = new URL(url);
    const login = await fetch(`${gateway}${link.pathname}${link.search}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const inside = await fetch(`${vault}/`, { headers: { cookie } });
    expect([inside.status, await inside.text()]).toEqual([200, "ok"]);
  });
  test("cannot turn its socket into a way to the daemon's own API", async () => {
    // The directory of its forwarder's socket is the app's own: it puts a link to the
    // daemon's socket there, hoping the gateway follows it with strangers' requests.
    await install(
      "trickster",
      `${PRELUDE}
      import { rmSync, symlinkSync } from "node:fs";
      rmSync("/run/bucky/http/http.sock", { force: true });
      symlinkSync(process.env.TARGET, "/run/bucky/http/http.sock");
      results.swapped = "yes";
      finish();
      setInterval(() => {}, 60_000);`,
      {
        run: { command: ["bun", "main.ts"], env: { TARGET: join(box.home, "daemon.sock") } },
        exposure: "public",
      },
    );
    expect(await resultsOf("trickster")).toEqual({ swapped: "yes" });
    await running("trickster");
    const { zone } = await buckyJson<{ zone: { id: string } }>(["status", "--home", box.home]);
    const response = await fetch(`${gateway}/apps/trickster/v1/status`);
    const text = await response.text();
    expect([response.status, text.includes(zone.id)]).toEqual([502, false]);
  });
});

describe("the app API", () => {
  let keeper: Record<string, string>;
  let nobody: Record<string, string>;

  test("setup: an app with state and named-data permissions, and one with none", async () => {
    // Another app's shared key, which keeper was granted to read.
    await buckyJson([
      "state",
      "set",
      "apps/shared/motd",
      JSON.stringify("hello, apps"),
      "--home",
      box.home,
    ]);
    await install(
      "keeper",
      `${PRELUDE}
      const put = (key, value) => api("PUT", "/v1/state/" + key, JSON.stringify({ value }));
      await attempt("write its own key", () => put("apps/keeper/greeting", "hello"));
      await attempt("read its own key", () => api("GET", "/v1/state/apps/keeper/greeting"));
      await attempt("list its own keys", () => api("GET", "/v1/state?prefix=apps/keeper/"));
      await attempt("read a granted key", () => api("GET", "/v1/state/apps/shared/motd"));
      await attempt("write a granted-read key", () => put("apps/shared/motd", "mine now"));
      await attempt("write another app's key", () => put("apps/vault/owned", "yes"));
      await attempt("write an app spec", () => put("users/owner/apps/keeper/spec", {}));
      await attempt("write a device key", () => put("devices/box/info", {}));
      await attempt("read the zone document", () => api("GET", "/v1/state/boot/config"));
      await attempt("list everything", () => api("GET", "/v1/state?prefix="));
      await attempt("climb out of its prefix", () => api("GET", "/v1/state/apps/keeper%2F..%2F..%2Fboot%2Fconfig"));
      await attempt("call with no token", () => api("GET", "/v1/state/apps/keeper/greeting", undefined, null));
      const [header, payload, signature] = process.env.BUCKY_APP_TOKEN.split(".");
      const wider = JSON.parse(Buffer.from(payload, "base64url").toString());
      wider.scope.push("state.write:apps/vault/");
      const forged = [header, Buffer.from(JSON.stringify(wider)).toString("base64url"), signature].join(".");
      await attempt("call with a forged token", () =>
        api("PUT", "/v1/state/apps/vault/owned", JSON.stringify({ value: "yes" }), forged));
      await attempt("call the daemon's own API", () => api("GET", "/v1/invites"));
      const stored = await api("POST", "/v1/objects", "named bytes");
      results["store named data"] = stored;
      const id = JSON.parse(stored.slice(4)).id;
      await attempt("fetch named data", () => api("GET", "/v1/objects/" + id));
      finish();
      serve();`,
      {
        permissions: [
          "state.read",
          "state.write",
          "state.read:apps/shared/",
          "ndn.read",
          "ndn.write",
        ],
      },
    );
    keeper = await resultsOf("keeper");
    await install(
      "nobody",
      `${PRELUDE}
      await attempt("write its own key", () => api("PUT", "/v1/state/apps/nobody/x", JSON.stringify({ value: 1 })));
      await attempt("read its own key", () => api("GET", "/v1/state/apps/nobody/x"));
      await attempt("store named data", () => api("POST", "/v1/objects", "bytes"));
      await attempt("ask who it is", () => api("GET", "/v1/whoami"));
      finish();
      serve();`,
    );
    nobody = await resultsOf("nobody");
  });

  const status = (outcome: string | undefined) => Number(outcome?.slice(0, 3));
  const body = (outcome: string | undefined) => JSON.parse((outcome ?? "").slice(4));

  test("serves what the manifest's permissions allow", async () => {
    expect(status(keeper["write its own key"])).toBe(200);
    expect(body(keeper["read its own key"])).toMatchObject({
      key: "apps/keeper/greeting",
      value: "hello",
    });
    expect(body(keeper["list its own keys"]).entries.map((e: { key: string }) => e.key)).toEqual([
      "apps/keeper/greeting",
    ]);
    expect(body(keeper["read a granted key"])).toMatchObject({ value: "hello, apps" });
    const stored = body(keeper["store named data"]);
    expect(stored).toEqual({ id: expect.stringMatching(/^sha256:/), size: 11, withinBudget: true });
    expect(keeper["fetch named data"]).toBe("200 named bytes");
    // What it wrote is zone state like any other, under its own prefix.
    const entry = await buckyJson<{ value: unknown }>([
      "state",
      "get",
      "apps/keeper/greeting",
      "--home",
      box.home,
    ]);
    expect(entry.value).toBe("hello");
  });

  test("refuses everything else with 403 and a plain reason", () => {
    for (const call of [
      "write a granted-read key",
      "write another app's key",
      "write an app spec",
      "write a device key",
      "read the zone document",
      "list everything",
    ]) {
      expect([call, status(keeper[call])]).toEqual([call, 403]);
      expect(body(keeper[call]).error.message).toContain("keeper");
    }
    expect(body(keeper["write another app's key"]).error.message).toContain("apps/vault/owned");
    expect(status(keeper["climb out of its prefix"])).toBe(400);
    expect(status(keeper["call the daemon's own API"])).toBe(404);
    for (const call of ["write its own key", "read its own key", "store named data"])
      expect([call, status(nobody[call])]).toEqual([call, 403]);
    expect(body(nobody["ask who it is"])).toMatchObject({ app: "nobody", permissions: [] });
  });

  test("wants the app's own token, unaltered", () => {
    expect(keeper["call with no token"]).toMatch(/^403 .*answers only with its token/);
    expect(keeper["call with a forged token"]).toMatch(/^403 .*JWS signature does not verify/);
  });

  test("so nothing it was refused was written", async () => {
    const result = await bucky(["state", "get", "apps/vault/owned", "--home", box.home, "--json"]);
    expect([result.exitCode, jsonError(result).code]).toEqual([1, "E_NOT_FOUND"]);
  });

  test("takes no app's token on another app's socket", async () => {
    const token = (app: string) => {
      const pid = readFileSync(join(box.home, "apps", app, "pid"), "utf8").trim();
      const environ = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
      return (environ.find((line) => line.startsWith("BUCKY_APP_TOKEN=")) ?? "").slice(16);
    };
    const socket = join(box.home, "apps", "nobody", "sandbox", "api", "api.sock");
    const call = (bearer: string) =>
      fetch("http://app/v1/state/apps/keeper/greeting", {
        unix: socket,
        headers: { authorization: `Bearer ${bearer}` },
      });
    // keeper may read apps/keeper/, but not through nobody's door.
    const response = await call(token("keeper"));
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      "keeper",
    );
    expect((await call(token("nobody"))).status).toBe(403);
  });

  test("paces an app that writes in a loop: the zone keeps every change, on every device", async () => {
    await install(
      "flooder",
      `${PRELUDE}
      const statuses = [];
      const start = Date.now();
      for (let i = 0; i < 150; i++)
        statuses.push(await api("PUT", "/v1/state/apps/flooder/n", JSON.stringify({ value: i })));
      results.written = String(statuses.filter((s) => s.startsWith("200 ")).length);
      results.refused = String(statuses.filter((s) => s.startsWith("429 ")).length);
      results.said = statuses.find((s) => s.startsWith("429 ")) ?? "";
      results.ms = String(Date.now() - start);
      finish();
      serve();`,
      { permissions: ["state.write"] },
    );
    const flooder = await resultsOf("flooder");
    const written = Number(flooder.written);
    // A burst of 100, then 10 a second for as long as the loop took.
    const allowed = 100 + Math.ceil((Number(flooder.ms) / 1000) * 10) + 1;
    expect([written >= 100 && written <= allowed, written + Number(flooder.refused)]).toEqual([
      true,
      150,
    ]);
    expect(flooder.said).toContain("flooder writes too fast: at most 10 changes a second");
  });

  test("logs each refusal", () => {
    expect(box.log()).toMatch(
      /request refused api=app method=PUT path=\/v1\/state\/apps\/vault\/owned status=403 .*peer=keeper code=E_PERMISSION/,
    );
  });
});

describe("an app's limits", () => {
  /** How many processes the user `uid` has now. */
  function processesOf(uid: number): number {
    let count = 0;
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        if (statSync(`/proc/${name}`).uid === uid) count++;
      } catch {
        // Gone since the listing.
      }
    }
    return count;
  }

  test("/tmp stops at its size, and the app is killed before the daemon when memory runs out", async () => {
    await install(
      "greedy",
      `${PRELUDE}
      results.oomScoreAdj = readFileSync("/proc/self/oom_score_adj", "utf8").trim();
      const { openSync, writeSync, closeSync, rmSync } = require("node:fs");
      let written = 0;
      const fd = openSync("/tmp/fill", "w");
      const chunk = Buffer.alloc(1 << 20, 1);
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (e) {
        results.tmpRefused = code(e);
      }
      closeSync(fd);
      rmSync("/tmp/fill");
      results.tmpBytes = String(written);
      finish();
      serve();`,
    );
    const greedy = await resultsOf("greedy");
    expect(greedy.oomScoreAdj).toBe("500");
    expect(greedy.tmpRefused).toBe("ENOSPC");
    expect(Number(greedy.tmpBytes)).toBeLessThanOrEqual(appTmpBytes());
    expect(Number(greedy.tmpBytes)).toBeGreaterThan(appTmpBytes() - 2 * 1024 * 1024);
    expect(readFileSync(`/proc/${box.pid}/oom_score_adj`, "utf8").trim()).toBe("0");
  });

  test("a fork bomb stops at the app's process cap, and harms only the app", async () => {
    await install(
      "forker",
      `${PRELUDE}
      finish();
      serve();
      Bun.spawn(["sh", "-c", "i=0; while [ $i -lt 1500 ]; do sleep 60 & i=$((i+1)); done; wait"], {
        stderr: "ignore",
      });`,
    );
    await resultsOf("forker");
    const uid = statSync(dataDir("forker")).uid;
    let most = 0;
    await waitFor(
      "the fork bomb to reach its cap",
      () => {
        most = Math.max(most, processesOf(uid));
        return most >= 900 ? true : undefined;
      },
      30_000,
    );
    for (let i = 0; i < 20; i++) most = Math.max(most, processesOf(uid));
    // Its threads count too, and its sandbox's init: fewer processes than the cap.
    expect(most).toBeLessThanOrEqual(1024);
    expect((await buckyJson<{ zone: unknown }>(["status", "--home", box.home])).zone).toBeDefined();
    await buckyJson(["app", "stop", "forker", "--home", box.home]);
    await waitFor(
      "its processes to end",
      () => (processesOf(uid) === 0 ? true : undefined),
      20_000,
    );
  });
});

describe("an app's output", () => {
  test("an app that writes without end is slowed in its writes, and its log kept to two files", async () => {
    // It writes lines to stdout as fast as it can for three seconds, counting what it got out.
    await install(
      "chatter",
      `${PRELUDE}
      const line = "c".repeat(1023) + "\\n";
      let written = 0;
      const start = Date.now();
      while (Date.now() - start < 3000) written += require("node:fs").writeSync(1, line);
      results.written = String(written);
      results.ms = String(Date.now() - start);
      finish();
      serve();`,
    );
    const chatter = await resultsOf("chatter");
    const MiB = 1024 * 1024;
    // Its burst (4 MiB), 1 MiB a second, and what the socket pair between it and the daemon
    // holds (about 208 KiB) and one read; unpaced, gigabytes.
    expect(Number(chatter.written)).toBeGreaterThan(4 * MiB);
    expect(Number(chatter.written)).toBeLessThanOrEqual(
      4 * MiB + (Number(chatter.ms) / 1000) * MiB + 512 * 1024,
    );
    const log = join(box.home, "apps", "chatter", "app.log");
    expect(statSync(log).size).toBeLessThanOrEqual(5 * MiB + 128 * 1024);
    expect(statSync(`${log}.1`).size).toBeLessThanOrEqual(5 * MiB + 128 * 1024);
    const logs = await buckyJson<{ lines: string[] }>([
      "app",
      "logs",
      "chatter",
      "--lines",
      "3",
      "--home",
      box.home,
    ]);
    expect(logs.lines).toEqual(["c".repeat(1023), "c".repeat(1023), "c".repeat(1023)]);
    await running("chatter");
  });
});

describe("network", () => {
  /** This host's first address on a real network, where an outbound app may go. */
  const lan = Object.values(networkInterfaces())
    .flat()
    .find((nic) => nic && nic.family === "IPv4" && !nic.internal)?.address;

  test("an app that asks for outbound network reaches the network, never the host's loopback", async () => {
    if (!lan) throw new Error("this machine has no network address to test outbound network with");
    const outside = Bun.serve({
      hostname: lan,
      port: 0,
      fetch: () => new Response("outside"),
    });
    try {
      const probes = JSON.stringify({
        lan: { host: lan, port: outside.port },
        loopback: { host: "127.0.0.1", port: hostService.port },
        slirpHost: { host: "10.0.2.2", port: hostService.port },
      });
      const script = `${PRELUDE}
        for (const [name, target] of Object.entries(JSON.parse(process.env.PROBES)))
          await attempt(name, () => reach(target));
        finish();
        serve();`;
      const run = { command: ["bun", "main.ts"], env: { PROBES: probes } };
      await install("caller", script, { run, network: "outbound" });
      await install("hermit", script, { run });
      const [caller, hermit] = await Promise.all([resultsOf("caller"), resultsOf("hermit")]);
      // Not reached is refused or unreachable (Bun says ECONNREFUSED for either).
      const shut = expect.stringMatching(/^(ECONNREFUSED|ENETUNREACH)$/);
      expect(caller).toEqual({ lan: "connected", loopback: "ECONNREFUSED", slirpHost: shut });
      expect(hermit).toEqual({ lan: shut, loopback: "ECONNREFUSED", slirpHost: shut });
    } finally {
      outside.stop(true);
    }
  });

  test("giving an app outbound network leaves the host's network namespaces as they were", async () => {
    // slirp4netns's own sandbox, started from the host's mounts, once unmounted every one
    // under /run/netns: `ip netns exec` then said "Invalid argument".
    const name = `bk-sandbox-${process.pid}`;
    const ip = (...args: string[]) =>
      Bun.spawnSync(["ip", ...args], {
        env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
        stderr: "pipe",
      });
    const made = ip("netns", "add", name);
    if (made.exitCode !== 0) throw new Error(`ip netns add: ${made.stderr}`);
    try {
      const script = `${PRELUDE}
        finish();
        serve();`;
      await install("wanderer", script, {
        run: { command: ["bun", "main.ts"] },
        network: "outbound",
      });
      await resultsOf("wanderer");
      const entered = ip("netns", "exec", name, "true");
      expect([entered.exitCode, entered.stderr.toString().trim()]).toEqual([0, ""]);
    } finally {
      ip("netns", "del", name);
    }
  });

  test('a manifest asking for anything but "outbound" is refused', async () => {
    const dir = join(scratchDir(), "odd");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "bucky-app.json"),
      JSON.stringify({
        id: "odd",
        version: "1",
        run: { command: ["true"] },
        network: "host",
        permissions: ["network"],
      }),
    );
    const result = await bucky(["app", "install", dir, "--home", box.home, "--json"]);
    expect(result.exitCode).toBe(2);
    const { message } = jsonError(result);
    expect(message).toContain('"network" must be "none" or "outbound"');
    expect(message).toContain('"network" is not a permission');
  });
});
