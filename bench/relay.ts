/**
 * App traffic through the gateway to the same app on three devices, in one run, in the
 * namespace lab (test/lab.ts; needs root): on the gateway's own device ("here"), on a
 * device "near" on the internet too (the gateway calls it directly), and on device h1
 * behind a NAT that lets nothing in (the gateway reaches it only through h1's tunnel). wrk
 * and a bulk download run from the client host, through the gateway, taking turns.
 * Goals: an app on another device at least 0.8 of the same app on the gateway's own
 * device in requests per second, with at most 2 ms more at p50; relayed bulk transfer at
 * least 0.8 of direct. Every device of the lab shares this machine's cores: a request to
 * another device costs a second daemon's work on the same CPUs, which separate machines
 * would not share. So each small-request figure comes with the CPU both daemons spent per
 * request (from /proc): on a machine others load, rates swing but those hardly do.
 *
 *   just bench        (or: bun bench/relay.ts [seconds] [rounds] [--bulk] [--bucky BINARY])
 *
 * `--bulk` runs the bulk downloads alone, five times each, alternating. `--bucky BINARY`
 * runs another build of bucky (main's copied aside, say) on every device in place of
 * dist/bucky: run once with each, taking turns, for an A/B. BENCH_PROFILE_DIR=…
 * has each daemon write a CPU profile there (in a directory named by its host) when it ends.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DAEMON_ENV } from "../lib/node/daemon-env.ts";
import { ADDRESSES, createLab, type Host, type Lab } from "../test/lab.ts";
import { benchBinary } from "./daemon.ts";

const { values: flags, positionals } = parseArgs({
  options: { bulk: { type: "boolean" }, bucky: { type: "string" } },
  allowPositionals: true,
});
const BUCKY = benchBinary(flags.bucky);
const BULK_ONLY = flags.bulk === true;
const SECONDS = Number(positionals[0] ?? 8);
const ROUNDS = Number(positionals[1] ?? 3);
const PROFILE_DIR = process.env.BENCH_PROFILE_DIR;
const BULK_MB = 256;
const GATEWAY = `http://${ADDRESSES.gw}:8080`;
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-relay-"));
const children: ReturnType<typeof Bun.spawn>[] = [];
/** Each daemon's process, by the host it runs on (`ip netns exec` becomes the daemon). */
const daemons = new Map<Host, number>();

const APP = `Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/blob")) {
      const chunk = new Uint8Array(1024 * 1024).fill(120);
      let left = Number(url.searchParams.get("mb"));
      return new Response(new ReadableStream({
        pull(controller) { if (left-- > 0) controller.enqueue(chunk); else controller.close(); },
      }), { headers: { "content-length": String(Number(url.searchParams.get("mb")) * 1024 * 1024) } });
    }
    return new Response("hello");
  },
});
`;

function bucky<T>(args: string[], lab?: Lab, host?: Host): T {
  const argv = [BUCKY, ...args, "--json"];
  const run = Bun.spawnSync(lab && host ? lab.on(host, argv) : argv, { stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`bucky ${args.join(" ")}: ${run.stderr}`);
  return JSON.parse(run.stdout.toString()) as T;
}

async function until(ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

function startDaemon(lab: Lab, host: Host, home: string): void {
  const argv = [BUCKY, "daemon", "--home", home, "--listen", "0.0.0.0", "--log-level", "error"];
  // As `bucky up` starts it (lib/node/daemon-env.ts).
  const env = PROFILE_DIR
    ? {
        ...process.env,
        ...DAEMON_ENV,
        BUN_OPTIONS: `--cpu-prof --cpu-prof-interval 100 --cpu-prof-dir ${join(PROFILE_DIR, host)}`,
      }
    : { ...process.env, ...DAEMON_ENV };
  const child = Bun.spawn(lab.on(host, argv), { stdout: "ignore", stderr: "ignore", env });
  children.push(child);
  daemons.set(host, child.pid);
}

/** Clock ticks a second, for /proc/<pid>/stat. */
const TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU seconds (user + system) `host`'s daemon has spent so far. */
function cpuSeconds(host: Host): number {
  const text = readFileSync(`/proc/${daemons.get(host)}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

function daemonUp(home: string): Promise<boolean> {
  return fetch("http://localhost/v1/status", { unix: join(home, "daemon.sock") }).then(
    (r) => r.ok,
    () => false,
  );
}

/** Runs a small Bun script on the client host; returns what it printed. */
function onClient(lab: Lab, script: string): string {
  const run = Bun.spawnSync(lab.on("client", [process.execPath, "-e", script]), {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (run.exitCode !== 0) throw new Error(`client script failed: ${run.stderr}`);
  return run.stdout.toString().trim();
}

interface Small {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU µs per request of the gateway's daemon and of the daemon of the device running the app. */
  gatewayUs: number;
  deviceUs: number;
}

function wrk(lab: Lab, url: string, device: Host, connections = 32): Small {
  const threads = Math.min(2, connections);
  const before = { gateway: cpuSeconds("gw"), device: cpuSeconds(device) };
  const run = Bun.spawnSync(
    lab.on("client", [
      "wrk",
      `-t${threads}`,
      `-c${connections}`,
      `-d${SECONDS}s`,
      "--latency",
      url,
    ]),
    { stdout: "pipe" },
  );
  const text = run.stdout.toString();
  const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };
  const latency = (pct: string) => {
    const match = new RegExp(`\\s${pct}%\\s+([\\d.]+)(us|ms|s)`).exec(text);
    return match ? Number(match[1]) * (unitMs[match[2] as string] ?? Number.NaN) : Number.NaN;
  };
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  if (!Number.isFinite(rps) || !(requests > 0)) throw new Error(`wrk failed on ${url}: ${text}`);
  const failed = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  if (failed > 0) throw new Error(`${failed} of ${requests} answers on ${url} were no success`);
  // On the gateway's own device the two daemons are one: its CPU is counted once.
  const gatewayUs = ((cpuSeconds("gw") - before.gateway) * 1e6) / requests;
  const deviceUs = device === "gw" ? 0 : ((cpuSeconds(device) - before.device) * 1e6) / requests;
  return { rps, p50Ms: latency("50"), p99Ms: latency("99"), gatewayUs, deviceUs };
}

interface Bulk {
  /** The best of three, MiB/s. */
  mibs: number;
  /**
   * CPU milliseconds per MiB of the gateway (the relay too) and of the device sending, one
   * per download: on a machine others load, rates swing but these hardly do.
   */
  gatewayMs: number[];
  deviceMs: number[];
}

/** Downloading BULK_MB through the gateway from the client host, `runs` times. */
function bulk(lab: Lab, url: string, device: Host, runs = 3): Bulk {
  const script = `const start = performance.now(); let n = 0;
    const r = await fetch(${JSON.stringify(url)});
    for await (const chunk of r.body) n += chunk.length;
    if (n !== ${BULK_MB * 1024 * 1024}) throw new Error("short: " + n);
    console.log(n / 1048576 / ((performance.now() - start) / 1000));`;
  const result: Bulk = { mibs: 0, gatewayMs: [], deviceMs: [] };
  for (let run = 0; run < runs; run++) {
    const before = { gateway: cpuSeconds("gw"), device: cpuSeconds(device) };
    result.mibs = Math.max(result.mibs, Number(onClient(lab, script)));
    result.gatewayMs.push(((cpuSeconds("gw") - before.gateway) * 1000) / BULK_MB);
    result.deviceMs.push(((cpuSeconds(device) - before.device) * 1000) / BULK_MB);
  }
  return result;
}

/** `--bulk`: direct and relayed downloads alone, taking turns, each round's ratio. */
function bulkAlone(lab: Lab, apps: { direct: string; relayed: string }): void {
  const runs: Record<"direct" | "relayed", Bulk>[] = [];
  for (let round = 0; round < 5; round++)
    runs.push({
      direct: bulk(lab, `${apps.direct}blob?mb=${BULK_MB}`, "client", 1),
      relayed: bulk(lab, `${apps.relayed}blob?mb=${BULK_MB}`, "h1", 1),
    });
  const range = (values: number[]) =>
    `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}`;
  console.log(`bulk alone: ${BULK_MB} MiB download, 5 rounds taking turns`);
  for (const name of ["direct", "relayed"] as const)
    console.log(
      `${name.padEnd(10)} ${range(runs.map((r) => r[name].mibs)).padStart(16)} MiB/s   CPU ms/MiB: gateway ${range(runs.flatMap((r) => r[name].gatewayMs))}, device ${range(runs.flatMap((r) => r[name].deviceMs))}`,
    );
  console.log(
    `relayed/direct per round: ${range(runs.map((r) => r.relayed.mibs / r.direct.mibs))} (goal ≥ 0.8)`,
  );
}

async function main(lab: Lab) {
  const homes = { gw: join(scratch, "gw"), near: join(scratch, "near"), h1: join(scratch, "h1") };
  bucky(["init", "--home", homes.gw, "--device", "gw"]);
  startDaemon(lab, "gw", homes.gw);
  await until(() => daemonUp(homes.gw), "the gateway's daemon");
  bucky(["gateway", "enable", "--listen", "0.0.0.0:8080", "--home", homes.gw]);
  for (const [name, host] of [
    ["near", "client"],
    ["h1", "h1"],
  ] as const) {
    const { token } = bucky<{ token: string }>(["invite", "--home", homes.gw]);
    bucky(["join", token, "--home", homes[name], "--device", name, "--no-start"], lab, host);
    startDaemon(lab, host, homes[name]);
    await until(() => daemonUp(homes[name]), `${name}'s daemon`);
  }
  for (const [id, device] of [
    ["here", "gw"],
    ["direct", "near"],
    ["relayed", "h1"],
  ] as const) {
    const dir = join(scratch, id);
    mkdirSync(dir);
    writeFileSync(join(dir, "app.ts"), APP);
    writeFileSync(
      join(dir, "bucky-app.json"),
      JSON.stringify({
        id,
        version: "1.0.0",
        run: { command: ["bun", "app.ts"] },
        http: {},
        exposure: "public",
        health: { path: "/" },
      }),
    );
    bucky(["app", "install", dir, "--device", device, "--home", homes.gw]);
    bucky(["app", "limit", id, "--rps", "10000000", "--home", homes.gw]);
  }
  for (const id of ["here", "direct", "relayed"])
    await until(
      () => onClient(lab, `console.log((await fetch("${GATEWAY}/apps/${id}/")).status)`) === "200",
      `${id} through the gateway`,
    );
  // A gateway without a name sends /apps/<app>/ on (308) to the app's own port, and wrk
  // follows no redirect (it took a 308 for an answer: the device's CPU read 0): each app is
  // asked where it answers, once, and checked to answer there.
  const at = (id: string) => {
    const url = onClient(
      lab,
      `const asked = "${GATEWAY}/apps/${id}/";
       const first = await fetch(asked, { redirect: "manual" });
       const url = first.status >= 300 && first.status < 400 ? new URL(first.headers.get("location"), asked).href : asked;
       const answer = await fetch(url, { redirect: "manual" });
       if (answer.status !== 200) throw new Error(url + " answered " + answer.status);
       console.log(url);`,
    );
    return url.endsWith("/") ? url : `${url}/`;
  };
  const apps = { here: at("here"), direct: at("direct"), relayed: at("relayed") };
  const devices = bucky<{ devices: { name: string; route: string | null }[] }>([
    "devices",
    "--home",
    homes.gw,
  ]).devices;
  const route = (name: string) => devices.find((d) => d.name === name)?.route;
  if (route("near") !== "direct" || route("h1") !== "relayed")
    throw new Error(`unexpected routes: near ${route("near")}, h1 ${route("h1")}`);

  if (BULK_ONLY) {
    console.log(
      `daemons: gw ${daemons.get("gw")}, near ${daemons.get("client")}, h1 ${daemons.get("h1")}`,
    );
    return bulkAlone(lab, apps);
  }
  const rounds: Record<"here" | "direct" | "relayed", Small>[] = [];
  // Under load (32 connections), and one request at a time: the latency a request adds.
  const alone: Record<"here" | "direct" | "relayed", Small>[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    rounds.push({
      here: wrk(lab, apps.here, "gw"),
      direct: wrk(lab, apps.direct, "client"),
      relayed: wrk(lab, apps.relayed, "h1"),
    });
    alone.push({
      here: wrk(lab, apps.here, "gw", 1),
      direct: wrk(lab, apps.direct, "client", 1),
      relayed: wrk(lab, apps.relayed, "h1", 1),
    });
  }
  const large = {
    direct: bulk(lab, `${apps.direct}blob?mb=${BULK_MB}`, "client"),
    relayed: bulk(lab, `${apps.relayed}blob?mb=${BULK_MB}`, "h1"),
  };
  const range = (values: number[], show: (n: number) => string) => {
    const low = show(Math.min(...values));
    const high = show(Math.max(...values));
    return low === high ? low : `${low}–${high}`;
  };
  const of = (name: "here" | "direct" | "relayed", pick: (r: Small) => number) =>
    rounds.map((round) => pick(round[name]));
  const thousands = (n: number) => Math.round(n).toLocaleString("en");
  const ms = (n: number) => n.toFixed(2);
  console.log(
    "the same app through the gateway: on its own device, on another it calls directly, on one behind NAT (through the relay)",
  );
  console.log(
    `small requests: wrk -t2 -c32 -d${SECONDS}s from the client host, ${ROUNDS} rounds taking turns (this machine)`,
  );
  console.log(
    `${"".padEnd(10)} ${"req/s".padStart(15)} ${"p50 ms".padStart(13)} ${"p99 ms".padStart(15)} ${"CPU µs/req: gateway".padStart(20)} ${"device".padStart(9)}`,
  );
  for (const name of ["here", "direct", "relayed"] as const)
    console.log(
      `${name.padEnd(10)} ${range(
        of(name, (r) => r.rps),
        thousands,
      ).padStart(15)} ${range(
        of(name, (r) => r.p50Ms),
        ms,
      ).padStart(13)} ${range(
        of(name, (r) => r.p99Ms),
        ms,
      ).padStart(15)} ${range(
        of(name, (r) => r.gatewayUs),
        thousands,
      ).padStart(20)} ${
        name === "here"
          ? "".padStart(9)
          : range(
              of(name, (r) => r.deviceUs),
              thousands,
            ).padStart(9)
      }`,
    );
  const ratio = (name: "direct" | "relayed") =>
    range(
      rounds.map((round) => round[name].rps / round.here.rps),
      ms,
    );
  const added = (name: "direct" | "relayed", of = rounds) =>
    range(
      of.map((round) => round[name].p50Ms - round.here.p50Ms),
      ms,
    );
  console.log(
    `goal: another device ≥ 0.8 of the gateway's own in req/s (direct ${ratio("direct")}, relayed ${ratio("relayed")}), p50 added ≤ 2 ms (direct ${added("direct")} ms, relayed ${added("relayed")} ms)`,
  );
  console.log("one request at a time (wrk -t1 -c1): p50");
  for (const name of ["here", "direct", "relayed"] as const)
    console.log(
      `${name.padEnd(10)} ${range(
        alone.map((round) => round[name].p50Ms),
        ms,
      ).padStart(13)} ms`,
    );
  console.log(
    `p50 added by another device, one request at a time: direct ${added("direct", alone)} ms, relayed ${added("relayed", alone)} ms (goal ≤ 2 ms)`,
  );
  console.log(
    `bulk: ${BULK_MB} MiB download, best of three; CPU ms per MiB of the gateway (relaying too) and of the device sending, over the three`,
  );
  for (const [name, { mibs, gatewayMs, deviceMs }] of Object.entries(large))
    console.log(
      `${name.padEnd(10)} ${`${mibs.toFixed(0)} MiB/s`.padStart(12)}   gateway ${range(gatewayMs, ms)}, device ${range(deviceMs, ms)}`,
    );
  console.log(
    `goal: relayed ≥ 0.8 of direct for bulk (${(large.relayed.mibs / large.direct.mibs).toFixed(2)})`,
  );
}

const lab = createLab();
try {
  await main(lab);
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  lab.destroy();
  rmSync(scratch, { recursive: true, force: true });
}
