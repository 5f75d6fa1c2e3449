/**
 * Issue 20, before building: would the device running an app cost less as a byte pipe than
 * as the second HTTP proxy it is today? Four shapes of the same small request, on
 * loopback (no namespace lab: the bridge's TCP adds to each shape alike), one app process
 * on a Unix socket behind all of them, wrk taking turns between them:
 *
 *  (a) own     a gateway-like Bun.serve fetch proxy -> the app's Unix socket: the anchor,
 *              an app on the gateway's own device.
 *  (b) proxy   today's shape: the gateway fetches over pinned TLS -> the device's
 *              Bun.serve(TLS) -> its fetch over the app's Unix socket. Bare: bucky's own
 *              JavaScript on the device (authentication, headers, log line) is not in it.
 *  (c) pipe    the gateway fetches over pinned TLS presenting its device certificate as
 *              the client's -> the device's Bun.listen(TLS) checks that certificate once
 *              per connection (against the one device key it must be), then joins the
 *              connection to one of its own to the app's socket (lib/relay/pipe.ts's Link)
 *              and moves bytes both ways, parsing no HTTP.
 *  (d) heads   (c), and the device reads each request head the gateway writes (never a
 *              response) with lib/gateway/request-heads.ts: every bucky-* header dropped,
 *              the person's assertion looked up (by its bytes, as a device remembers the
 *              ones that stood) and who is signed in written by the device itself, so the
 *              app hears only what the device checked.
 *
 * Each figure comes with the CPU the gateway's, the device's and the app's processes spent
 * per request (from /proc), steadier than rates on a machine others load (though they too
 * rise with its contention). The app refuses a request carrying an assertion (wrk's turn
 * then fails), and before the turns a request through (d) with a client's own Bucky-User
 * must reach the app as the person the device checked.
 *
 *   bun bench/pipe.ts [seconds] [rounds] [connections]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { RequestHeads } from "../lib/gateway/request-heads.ts";
import { MAX_BODY_BYTES } from "../lib/gateway/server.ts";
import { Link, tcpEnd } from "../lib/relay/pipe.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import {
  certificatePem,
  deviceCertificate,
  isDeviceCertificate,
  pinnedTls,
  privateKeyPem,
} from "../protocol/tls-cert.ts";

const INGRESS_PREFIX = "/v1/ingress/app";

interface Identity {
  publicKeyHex: string;
  certPem: string;
  keyPem: string;
}

function identity(fill: number): Identity {
  const seed = new Uint8Array(32).fill(fill);
  const key = signingKeyFromSeed(seed);
  return {
    publicKeyHex: Buffer.from(key.publicKey).toString("hex"),
    certPem: certificatePem(deviceCertificate(key)),
    keyPem: privateKeyPem(seed),
  };
}

/** Prints the port a role listens on, the parent's sign that it is ready. */
function ready(port: number | undefined): void {
  console.log(String(port));
}

// ---- the roles, each a process of its own so that its CPU can be read apart ----

/** A fixed stand-in for a gateway's app-user assertion, about as long as a real one. */
const ASSERTION = "a".repeat(400);

/**
 * The app: refuses an assertion (it must never reach an app) and says who it was told is
 * signed in at /who.
 */
function runApp(socket: string): void {
  Bun.serve({
    unix: socket,
    fetch(request) {
      if (request.headers.has("bucky-app-user")) return new Response("assertion", { status: 400 });
      const url = new URL(request.url);
      if (url.pathname === "/who") return new Response(request.headers.get("bucky-user") ?? "");
      if (url.pathname === "/bulk")
        return new Response(bulkBody(Number(url.searchParams.get("mib"))));
      return new Response("hello");
    },
  });
  ready(0);
}

/** `mib` MiB of bytes, a MiB at a time: bench/relay.ts's bulk app, so the two compare. */
function bulkBody(mib: number): ReadableStream<Uint8Array> {
  const block = new Uint8Array(1024 * 1024).fill(120);
  let left = mib;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (left-- > 0) controller.enqueue(block);
      else controller.close();
    },
  });
}

type Shape = "own" | "proxy" | "pipe" | "heads";

/** (a), and the gateway of the others: fetch and return, forwarding the request as is. */
function runGateway(target: Shape, appSocket: string, devicePort: number) {
  const device = identity(1);
  const gateway = identity(2);
  const base =
    target === "own"
      ? "http://app"
      : `https://127.0.0.1:${devicePort}${target === "proxy" ? INGRESS_PREFIX : ""}`;
  const tls =
    target === "own"
      ? {}
      : {
          tls: {
            ...pinnedTls(device.certPem),
            ...(target === "pipe" || target === "heads"
              ? { cert: gateway.certPem, key: gateway.keyPem }
              : {}),
          },
        };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const url = new URL(request.url);
      const headers = request.headers;
      if (target === "heads") headers.set("bucky-app-user", ASSERTION);
      return fetch(base + url.pathname + url.search, {
        method: request.method,
        headers,
        body: request.body,
        ...(target === "own" ? { unix: appSocket } : {}),
        ...tls,
      } as RequestInit);
    },
  });
  ready(server.port);
}

/** (b)'s device: a TLS HTTP server fetching from the app's socket, the prefix taken off. */
function runDeviceProxy(appSocket: string): void {
  const device = identity(1);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: device.certPem, key: device.keyPem },
    fetch(request) {
      const url = new URL(request.url);
      return fetch(`http://app${url.pathname.slice(INGRESS_PREFIX.length) || "/"}${url.search}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        unix: appSocket,
      } as RequestInit);
    },
  });
  ready(server.port);
}

/** (c)'s device, and (d)'s with `heads`: the client's certificate checked once, then bytes moved. */
function runDevicePipe(appSocket: string, heads: boolean): void {
  const stood = new Map([[ASSERTION, "alice"]]);
  /** The person's lines, for a head's assertion: as the device would write them. */
  const personLines = (mark: { assertion: string }) => {
    const person = stood.get(mark.assertion);
    if (person === undefined) throw new Error("an assertion that does not stand");
    return `bucky-user: ${person}\r\nbucky-user-role: member\r\n`;
  };
  const device = identity(1);
  const gatewayKey = Buffer.from(identity(2).publicKeyHex, "hex");
  /** Each socket's side of its link: the link, and the socket as one of its ends. */
  interface Side {
    link?: Link;
    end?: ReturnType<typeof tcpEnd>;
    requests?: RequestHeads | undefined;
  }
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: device.certPem, key: device.keyPem, requestCert: true, rejectUnauthorized: false },
    socket: {
      open(socket) {
        socket.data = {};
      },
      handshake(socket) {
        // The chain is not what counts (the certificate is self-signed): its bytes must be
        // the one certificate the gateway's device key makes, and TLS proved the key.
        const raw = socket.getPeerCertificate()?.raw;
        if (!raw || !isDeviceCertificate(new Uint8Array(raw), gatewayKey)) {
          socket.terminate();
          return;
        }
        const client = tcpEnd(socket as Socket<unknown>);
        const link = new Link(client);
        const requests = heads ? new RequestHeads(MAX_BODY_BYTES) : undefined;
        socket.data = { link, end: client, requests };
        Bun.connect<Side>({
          unix: appSocket,
          socket: {
            open(app) {
              const end = tcpEnd(app as Socket<unknown>);
              app.data = { link, end };
              link.join(end);
            },
            data: (_app, chunk) => link.fromB(chunk),
            drain: (app) => app.data.end?.flush(),
            close: () => link.close(),
            error: () => link.close(),
            connectError: () => link.close(),
          },
        }).catch(() => link.close());
      },
      data(socket, chunk) {
        const { link, requests } = socket.data;
        if (!link) return;
        if (!requests) return link.fromA(chunk);
        try {
          // One write a chunk: the parts joined (a write per part costs a system call each).
          const parts = requests
            .push(chunk)
            .map((part) => (part instanceof Uint8Array ? part : Buffer.from(personLines(part))));
          link.fromA(parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts));
        } catch {
          link.close();
        }
      },
      drain: (socket) => socket.data.end?.flush(),
      close: (socket) => socket.data.link?.close(),
      error: (socket) => socket.data.link?.close(),
    },
  });
  ready(server.port);
}

// ---- the parent: start the roles, take turns with wrk, print ----

const TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

const children: ReturnType<typeof Bun.spawn>[] = [];

async function start(role: string, ...args: string[]): Promise<{ pid: number; port: number }> {
  const child = Bun.spawn([process.execPath, import.meta.path, "role", role, ...args], {
    stdout: "pipe",
    stderr: "inherit",
  });
  children.push(child);
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${role} ended before it was ready`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { pid: child.pid, port: Number(text.trim()) };
}

interface Run {
  rps: number;
  p50Ms: number;
  gatewayUs: number;
  deviceUs: number;
  appUs: number;
}

/** A turn of wrk through `port`; CPU a request of the gateway, the app, and the device if any. */
function wrk(port: number, pids: number[], seconds: number, connections: number): Run {
  const before = pids.map(cpuSeconds);
  const run = Bun.spawnSync(
    [
      "wrk",
      `-t${Math.min(2, connections)}`,
      `-c${connections}`,
      `-d${seconds}s`,
      "--latency",
      `http://127.0.0.1:${port}/hello`,
    ],
    { stdout: "pipe" },
  );
  const text = run.stdout.toString();
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: .*/.exec(text)?.[0];
  if (!(requests > 0) || errors) throw new Error(`wrk on :${port}: ${text}`);
  const match = /\s50%\s+([\d.]+)(us|ms|s)/.exec(text);
  const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000 };
  const p50Ms = match ? Number(match[1]) * (unitMs[match[2] as string] ?? Number.NaN) : Number.NaN;
  const us = pids.map((pid, i) => ((cpuSeconds(pid) - (before[i] as number)) * 1e6) / requests);
  return { rps, p50Ms, gatewayUs: us[0] as number, appUs: us[1] as number, deviceUs: us[2] ?? 0 };
}

/**
 * `bulk [mib] [rounds]`: the gateway's download of `mib` MiB straight from each device
 * shape (this process as the gateway), taking turns; the device's CPU a MiB.
 */
async function bulk(): Promise<void> {
  const [mib = 256, rounds = 3] = process.argv.slice(3).map(Number);
  const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-pipe-"));
  const appSocket = join(scratch, "app.sock");
  const device = identity(1);
  const gateway = identity(2);
  try {
    await start("app", appSocket);
    const devices = {
      proxy: { ...(await start("device-proxy", appSocket)), prefix: INGRESS_PREFIX, cert: {} },
      pipe: {
        ...(await start("device-pipe", appSocket, "bytes")),
        prefix: "",
        cert: { cert: gateway.certPem, key: gateway.keyPem },
      },
      heads: {
        ...(await start("device-pipe", appSocket, "heads")),
        prefix: "",
        cert: { cert: gateway.certPem, key: gateway.keyPem },
      },
    };
    const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`loopback; ${mib} MiB a download, ${rounds} rounds; load average ${load()}`);
    const download = async (name: keyof typeof devices, size: number) => {
      const shape = devices[name];
      const before = cpuSeconds(shape.pid);
      const started = performance.now();
      const response = await fetch(
        `https://127.0.0.1:${shape.port}${shape.prefix}/bulk?mib=${size}`,
        {
          tls: { ...pinnedTls(device.certPem), ...shape.cert },
        } as RequestInit,
      );
      let bytes = 0;
      for await (const chunk of response.body as ReadableStream<Uint8Array>) bytes += chunk.length;
      if (bytes !== size * 1024 * 1024) throw new Error(`${name}: ${bytes} bytes`);
      const ms = performance.now() - started;
      return {
        msPerMiB: ((cpuSeconds(shape.pid) - before) * 1000) / size,
        mibPerS: size / (ms / 1000),
      };
    };
    const names = Object.keys(devices) as (keyof typeof devices)[];
    for (const name of names) await download(name, 16);
    const runs: Record<string, { msPerMiB: number; mibPerS: number }[]> = {
      proxy: [],
      pipe: [],
      heads: [],
    };
    for (let round = 0; round < rounds; round++)
      for (const name of names) runs[name]?.push(await download(name, mib));
    const range = (values: number[], digits: number) =>
      `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
    for (const name of names) {
      const list = runs[name] ?? [];
      console.log(
        `${name.padEnd(8)} device ${range(
          list.map((r) => r.msPerMiB),
          2,
        )} ms CPU a MiB, ${range(
          list.map((r) => r.mibPerS),
          0,
        )} MiB/s`,
      );
    }
    console.log(`load average at the end ${load()}`);
  } finally {
    for (const child of children) child.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const [seconds = 8, rounds = 3, connections = 32] = process.argv.slice(2).map(Number);
  const scratch = mkdtempSync(join(tmpdir(), "bucky-bench-pipe-"));
  const appSocket = join(scratch, "app.sock");
  try {
    const app = await start("app", appSocket);
    const proxyDevice = await start("device-proxy", appSocket);
    const pipeDevice = await start("device-pipe", appSocket, "bytes");
    const headsDevice = await start("device-pipe", appSocket, "heads");
    const shapes = {
      own: { gateway: await start("gateway", "own", appSocket, "0"), device: undefined },
      proxy: {
        gateway: await start("gateway", "proxy", appSocket, String(proxyDevice.port)),
        device: proxyDevice,
      },
      pipe: {
        gateway: await start("gateway", "pipe", appSocket, String(pipeDevice.port)),
        device: pipeDevice,
      },
      heads: {
        gateway: await start("gateway", "heads", appSocket, String(headsDevice.port)),
        device: headsDevice,
      },
    };
    const names = Object.keys(shapes) as (keyof typeof shapes)[];
    const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(
      `loopback; wrk -t2 -c${connections}, ${seconds} s a turn, ${rounds} rounds; load average ${load()}`,
    );
    // The app hears who is signed in through (d) from the device alone, and a client's
    // own claim never reaches it (the app refuses an assertion, failing wrk's turn).
    const who = await fetch(`http://127.0.0.1:${shapes.heads.gateway.port}/who`, {
      headers: { "bucky-user": "mallory", Bucky_User: "mallory" },
    }).then((response) => response.text());
    if (who !== "alice") throw new Error(`the app was told ${JSON.stringify(who)} is signed in`);
    // A short turn each first, unprinted: connections opened, code warmed.
    for (const name of names) {
      const shape = shapes[name];
      wrk(shape.gateway.port, [shape.gateway.pid, app.pid], 1, connections);
    }
    const runs: Record<string, Run[]> = { own: [], proxy: [], pipe: [], heads: [] };
    for (let round = 0; round < rounds; round++)
      for (const name of names) {
        const shape = shapes[name];
        const pids = [shape.gateway.pid, app.pid, ...(shape.device ? [shape.device.pid] : [])];
        runs[name]?.push(wrk(shape.gateway.port, pids, seconds, connections));
      }
    const range = (values: number[], digits = 0) =>
      `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
    console.log("shape      req/s           p50 ms      CPU µs a request: gateway, device (app)");
    for (const name of names) {
      const list = runs[name] as Run[];
      console.log(
        `${name.padEnd(8)} ${range(list.map((r) => r.rps)).padStart(15)}  ${range(
          list.map((r) => r.p50Ms),
          2,
        ).padStart(11)}   ${range(list.map((r) => r.gatewayUs))}, ${
          name === "own" ? "–" : range(list.map((r) => r.deviceUs))
        } (${range(list.map((r) => r.appUs))})`,
      );
    }
    const ratio = (name: string) =>
      range(
        (runs[name] as Run[]).map((r, i) => r.rps / ((runs.own as Run[])[i] as Run).rps),
        2,
      );
    console.log(
      `per round, of own: proxy ${ratio("proxy")}, pipe ${ratio("pipe")}, heads ${ratio("heads")} (goal ≥ 0.8)`,
    );
    console.log(`load average at the end ${load()}`);
  } finally {
    for (const child of children) child.kill();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (process.argv[2] === "role") {
  const [role, ...args] = process.argv.slice(3);
  if (role === "app") runApp(args[0] as string);
  else if (role === "gateway") runGateway(args[0] as Shape, args[1] as string, Number(args[2]));
  else if (role === "device-proxy") runDeviceProxy(args[0] as string);
  else if (role === "device-pipe") runDevicePipe(args[0] as string, args[1] === "heads");
  else throw new Error(`no such role: ${role}`);
} else if (process.argv[2] === "bulk") {
  await bulk();
} else {
  await main();
}
