/**
 * The gateway under load, in one run with the same backend and the same load generator:
 * wrk (2 threads, 32 connections, small responses) through nginx and Caddy (from
 * Debian) as plain reverse proxies, and through the bucky gateway
 * with accounting, a request limit (set high enough not to refuse) and a rule (that does
 * not match) all switched on; and, to show what Bun itself allows, through the plainest
 * Bun fetch proxy and through a bare forwarder on Bun.connect (bench/raw-proxy.ts); and
 * through the gateway again with a person's session cookie on every request; and POSTs of
 * 1 KiB through nginx and the gateway (an app reads what is posted to it). A
 * sandboxed app answers on its Unix socket, so every proxy goes to that socket. Beside the
 * rates, the CPU each proxy spent per request (from /proc), which others' work on a shared
 * machine disturbs far less. Goal: bucky at least equals nginx in requests per second,
 * with a p99 latency no worse.
 *
 *   just bench        (or: bun bench/gateway.ts [seconds] [rounds] [--bucky BINARY])
 *
 * `--bucky BINARY` runs another build of bucky (main's copied aside, say) in place of
 * dist/bucky: run once with each, taking turns, for an A/B.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { benchBinary, buckyJson, startDaemon, until } from "./daemon.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags, positionals } = parseArgs({
  options: { bucky: { type: "string" } },
  allowPositionals: true,
});
const BUCKY = benchBinary(flags.bucky);
const SECONDS = Number(positionals[0] ?? 8);
const ROUNDS = Number(positionals[1] ?? 3);
const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-gateway-"));
const children: ReturnType<typeof Bun.spawn>[] = [];

function bucky<T>(args: string[]): T {
  return buckyJson<T>(BUCKY, args);
}

function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

const answers = (url: string) => async () =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

function spawn(command: string[], env: Record<string, string> = {}) {
  const child = Bun.spawn(command, {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, ...env },
  });
  children.push(child);
  return child;
}

/** Clock ticks a second, for /proc/<pid>/stat. */
const TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

/** CPU time (user + system, in µs) spent so far by `pid` and, with `children`, its children. */
function cpuUs(pid: number, children: boolean): number {
  const stat = (id: number | string) => {
    try {
      const text = readFileSync(`/proc/${id}/stat`, "utf8");
      const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
      return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
    } catch {
      return undefined;
    }
  };
  let ticks = stat(pid)?.ticks ?? 0;
  if (children)
    for (const entry of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
      const child = stat(entry);
      if (child?.ppid === pid) ticks += child.ticks;
    }
  return (ticks * 1_000_000) / TICKS_PER_S;
}

/**
 * Runs wrk against `url`; returns requests per second, the p99 latency in ms, and the CPU
 * the proxy spent per request (`pid`, with its children for nginx's workers): a figure
 * that other work on a shared machine disturbs far less than the rates.
 */
function wrk(
  url: string,
  proxy: { pid: number; children: boolean },
  headers: readonly string[] = [],
  script?: string,
): { rps: number; p99Ms: number; cpuUs: number } {
  const before = cpuUs(proxy.pid, proxy.children);
  const run = Bun.spawnSync(
    [
      "wrk",
      "-t2",
      "-c32",
      `-d${SECONDS}s`,
      "--latency",
      ...(script ? ["-s", script] : []),
      ...headers.flatMap((h) => ["-H", h]),
      url,
    ],
    { stdout: "pipe" },
  );
  const text = run.stdout.toString();
  const spent = cpuUs(proxy.pid, proxy.children) - before;
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)/.exec(text);
  const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };
  const p99Ms = p99 ? Number(p99[1]) * (unitMs[p99[2] as string] ?? Number.NaN) : Number.NaN;
  if (!Number.isFinite(rps)) throw new Error(`wrk failed on ${url}: ${text}`);
  // An answer that is no success (a 502 while the app starts, a 503 past a limit) is
  // cheaper than a forwarded one: counted as throughput, it would flatter the proxy (wrk
  // counts a redirect as one: see answeredAt).
  const failed = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  if (failed > 0) throw new Error(`${failed} of ${requests} answers on ${url} were no success`);
  return { rps, p99Ms, cpuUs: spent / requests };
}

/** Where `asked` is answered: itself, or where it is sent on; checked to answer 200 there. */
async function answeredAt(asked: string): Promise<string> {
  const first = await fetch(asked, { redirect: "manual" });
  const location = first.headers.get("location");
  const url =
    first.status >= 300 && first.status < 400 && location ? new URL(location, asked).href : asked;
  const answer = await fetch(url, { redirect: "manual" });
  if (answer.status !== 200) throw new Error(`${url} answered ${answer.status}, not 200`);
  return url;
}

async function main() {
  // The zone, its gateway, and one small app: the backend everyone proxies to.
  const home = join(scratch, "home");
  bucky(["init", "--home", home, "--device", "gw"]);
  const daemon = await startDaemon(BUCKY, home);
  children.push(daemon);
  const appDir = join(scratch, "hello");
  mkdirSync(appDir);
  writeFileSync(
    join(appDir, "hello.ts"),
    // It reads what is posted to it, as an app taking a form or an API call does (and
    // answers a GET at once, as before).
    'Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: (r) => (r.body ? r.arrayBuffer().then(() => new Response("hello")) : new Response("hello")) });\n',
  );
  writeFileSync(
    join(appDir, "bucky-app.json"),
    JSON.stringify({
      id: "hello",
      version: "1.0.0",
      run: { command: ["bun", "hello.ts"] },
      http: {},
      exposure: "public",
      health: { path: "/" },
    }),
  );
  bucky(["app", "install", appDir, "--home", home]);
  let backend = "";
  await until("the app", async () => {
    const status = bucky<{ state: string; url: string | null }>([
      "app",
      "status",
      "hello",
      "--home",
      home,
    ]);
    backend = status.url ?? "";
    return status.state === "running";
  });
  const gatewayPort = freePort();
  bucky(["gateway", "enable", "--listen", `127.0.0.1:${gatewayPort}`, "--home", home]);
  bucky(["app", "limit", "hello", "--rps", "10000000", "--home", home]);
  bucky(["rule", "add", "block", "--app", "hello", "--client", "192.0.2.1", "--home", home]);
  const asked = `http://127.0.0.1:${gatewayPort}/apps/hello/`;
  await until("the gateway", answers(asked));
  // A gateway without a name sends /apps/<app>/ on (308) to the app's own port, and wrk
  // follows no redirect: it took the 308 for an answer (some 40,000 a second, nothing
  // forwarded). The app is asked where it answers, and checked to answer there.
  const gateway = await answeredAt(asked);
  // A person's browser sends its session cookie with every request: the owner's, from a
  // login link (the gateway checks it on every request it does not remember).
  const link = new URL(bucky<{ url: string }>(["login-link", "--home", home]).url);
  const signedIn = await fetch(`http://127.0.0.1:${gatewayPort}${link.pathname}${link.search}`, {
    redirect: "manual",
  });
  const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
  if (!cookie.startsWith("bucky_session=")) throw new Error("the login link set no session");

  // A sandboxed app answers on a Unix socket (its door): everyone proxies to that socket.
  const socket = backend.startsWith("unix:") ? backend.slice("unix:".length) : undefined;
  const upstream = socket ? `unix:${socket}` : new URL(backend).host;
  const nginxPort = freePort();
  const nginxDir = join(scratch, "nginx");
  mkdirSync(join(nginxDir, "logs"), { recursive: true });
  writeFileSync(
    join(nginxDir, "nginx.conf"),
    `user root; worker_processes auto; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/logs/error.log;
events { worker_connections 4096; }
http { access_log off; upstream backend { server ${upstream}; keepalive 64; }
  server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`,
  );
  const nginx = spawn([
    "nginx",
    "-p",
    nginxDir,
    "-c",
    join(nginxDir, "nginx.conf"),
    "-g",
    "daemon off;",
  ]);
  await until("nginx", answers(`http://127.0.0.1:${nginxPort}/`));

  const caddyPort = freePort();
  const caddyfile = join(scratch, "Caddyfile");
  writeFileSync(
    caddyfile,
    `{\n  admin off\n  auto_https off\n}\n:${caddyPort} {\n  bind 127.0.0.1\n  reverse_proxy ${socket ? `unix/${socket}` : new URL(backend).host}\n}\n`,
  );
  const caddy = spawn(["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"], {
    HOME: scratch,
    XDG_DATA_HOME: scratch,
    XDG_CONFIG_HOME: scratch,
  });
  await until("caddy", answers(`http://127.0.0.1:${caddyPort}/`));

  const barePort = freePort();
  const bare = spawn(["bun", join(ROOT, "bench/bare-proxy.ts"), String(barePort), backend]);
  await until("the bare Bun proxy", answers(`http://127.0.0.1:${barePort}/`));
  const rawPort = freePort();
  const raw = spawn(["bun", join(ROOT, "bench/raw-proxy.ts"), String(rawPort), backend]);
  await until("the Bun.connect proxy", answers(`http://127.0.0.1:${rawPort}/`));

  // Each figure beside its anchor: the proxies take turns, ROUNDS times, so that load from
  // others on this shared machine falls on all of them alike; the range is printed.
  type Figure = ReturnType<typeof wrk>;
  // The CPU of the gateway is its daemon's alone (the app's sandbox, its child, serves every
  // proxy alike); nginx's is its master's and workers'.
  const alone = (child: { pid: number }) => ({ pid: child.pid, children: false });
  // A POST of 1 KiB (a form, an API call), through nginx and the gateway.
  const post = join(scratch, "post.lua");
  writeFileSync(
    post,
    'wrk.method = "POST"\nwrk.body = string.rep("x", 1024)\nwrk.headers["Content-Type"] = "application/octet-stream"\n',
  );
  const targets: [string, string, { pid: number; children: boolean }, string[]?, string?][] = [
    ["nginx (reverse proxy)", `http://127.0.0.1:${nginxPort}/`, { pid: nginx.pid, children: true }],
    ["caddy (reverse proxy)", `http://127.0.0.1:${caddyPort}/`, alone(caddy)],
    ["bare Bun fetch proxy (no features)", `http://127.0.0.1:${barePort}/`, alone(bare)],
    ["Bun.connect proxy (no features, no checks)", `http://127.0.0.1:${rawPort}/`, alone(raw)],
    ["bucky gateway (accounting, limit, rule)", gateway, alone(daemon)],
    ["bucky gateway, signed in (a session cookie)", gateway, alone(daemon), [`Cookie: ${cookie}`]],
    [
      "nginx, POST 1 KiB",
      `http://127.0.0.1:${nginxPort}/`,
      { pid: nginx.pid, children: true },
      [],
      post,
    ],
    ["bucky gateway, POST 1 KiB", gateway, alone(daemon), [], post],
  ];
  const runs = new Map<string, Figure[]>(targets.map(([name]) => [name, []]));
  const ratios: Figure[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const figures = new Map(
      targets.map(([name, url, proxy, headers, script]) => [
        name,
        wrk(url, proxy, headers, script),
      ]),
    );
    for (const [name, figure] of figures) runs.get(name)?.push(figure);
    const nginx = figures.get("nginx (reverse proxy)") as Figure;
    const ours = figures.get("bucky gateway (accounting, limit, rule)") as Figure;
    ratios.push({
      rps: ours.rps / nginx.rps,
      p99Ms: ours.p99Ms / nginx.p99Ms,
      cpuUs: ours.cpuUs / nginx.cpuUs,
    });
  }
  const range = (values: number[], show: (n: number) => string) => {
    const low = show(Math.min(...values));
    const high = show(Math.max(...values));
    return low === high ? low : `${low}–${high}`;
  };
  const thousands = (n: number) => Math.round(n).toLocaleString("en");
  const ms = (n: number) => n.toFixed(2);
  console.log(
    `gateway under load: wrk -t2 -c32 -d${SECONDS}s, small responses, ${ROUNDS} rounds taking turns (this machine)`,
  );
  console.log(
    `${"".padEnd(44)} ${"req/s".padStart(17)} ${"p99 ms".padStart(12)} ${"CPU µs/req".padStart(11)}`,
  );
  for (const [name, figures] of runs)
    console.log(
      `${name.padEnd(44)} ${range(
        figures.map((f) => f.rps),
        thousands,
      ).padStart(17)} ${range(
        figures.map((f) => f.p99Ms),
        ms,
      ).padStart(12)} ${range(
        figures.map((f) => f.cpuUs),
        (n) => n.toFixed(0),
      ).padStart(11)}`,
    );
  console.log(
    `goal: bucky ≥ 1.0× nginx in req/s (${range(
      ratios.map((r) => r.rps),
      ms,
    )}× per round) and p99 ≤ nginx's (${range(
      ratios.map((r) => r.p99Ms),
      ms,
    )}× per round); CPU per request ${range(
      ratios.map((r) => r.cpuUs),
      ms,
    )}× nginx's (the least disturbed by others' load)`,
  );
}

try {
  await main();
} finally {
  for (const child of children) child.kill();
  await Promise.all(children.map((child) => child.exited));
  rmSync(scratch, { recursive: true, force: true });
}
