/**
 * Issue 20, relayed bulk: where a relayed download's extra CPU goes, leg by leg. The same
 * 256 MiB answer of one app reaches a gateway-like process from a device-like process on
 * loopback (no namespace lab: its bridge, NAT and other daemons add noise, not legs), in
 * four shapes taking turns, each process's CPU a MiB read from /proc:
 *
 *  direct        the gateway fetches over pinned TLS from the device's app pipe (a TLS
 *                listener joined byte for byte to the app, lib/relay/pipe.ts's Link): how
 *                the gateway reaches a device it calls directly.
 *  relayed       the gateway fetches over a Unix door joined to a WebSocket stream of its
 *                hub (lib/relay/pipe.ts's serverSocketEnd); the device's tunnel joins the
 *                stream to its ingress (a Bun.serve on a Unix socket that fetches from the
 *                app and passes the answer on): today's relayed own stream, bare.
 *  relayed-pipe  the same stream, the device joining it straight to the app's port: what
 *                a relayed stream would cost the device without its second HTTP proxy.
 *  door          the gateway writes an answer it makes (fresh 512 KiB pieces, as its hub's
 *                WebSocket messages come) into the same door: the door and fetch's read
 *                of it alone, which tells the gateway's relayed cost apart from the
 *                WebSocket's.
 *
 * Bare: none of bucky's own checks, headers or logs (the same in every shape), and the
 * gateway passes the answer on as it is (the real one pipes a chunked answer through its
 * byte counter, in every shape alike).
 *
 *   bun bench/relay-legs.ts [mib] [rounds]
 */
import { readFileSync } from "node:fs";
import type { Socket, SocketHandler } from "bun";
import { clientSocketEnd, type End, Link, serverSocketEnd, tcpEnd } from "../lib/relay/pipe.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import {
  certificatePem,
  deviceCertificate,
  pinnedTls,
  privateKeyPem,
} from "../protocol/tls-cert.ts";

const MIB = 1024 * 1024;

function identity(fill: number): { certPem: string; keyPem: string } {
  const seed = new Uint8Array(32).fill(fill);
  return {
    certPem: certificatePem(deviceCertificate(signingKeyFromSeed(seed))),
    keyPem: privateKeyPem(seed),
  };
}
const DEVICE = identity(1);
const GATEWAY = identity(2);

/** Prints what a role's parent waits for (its ports), the sign that it is ready. */
function ready(...ports: (number | string | undefined)[]): void {
  console.log(ports.join(" "));
}

/** A socket's side of a link: the link, and how its end writes what waits. */
interface Side {
  link: Link;
  flush: () => void;
}

/** A socket handler whose every connection is `a` of a link made by `opened` (none: closed). */
function linkedSockets(opened: (end: End, socket: Socket<Side>) => Link): SocketHandler<Side> {
  return {
    open(socket) {
      const end = tcpEnd(socket as Socket<unknown>);
      socket.data = { link: opened(end, socket), flush: () => end.flush() };
    },
    data: (socket, chunk) => socket.data.link.fromA(chunk),
    drain: (socket) => socket.data.flush(),
    close: (socket) => socket.data?.link.close(),
    error: (socket) => socket.data?.link.close(),
  };
}

// ---- the roles, each a process of its own so that its CPU can be read apart ----

/** The app: bench/relay.ts's, `mb` MiB a MiB at a time from a pull stream. */
function runApp(): void {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(request) {
      const mb = Number(new URL(request.url).searchParams.get("mb"));
      const block = new Uint8Array(MIB).fill(120);
      let left = mb;
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (left-- > 0) controller.enqueue(block);
            else controller.close();
          },
        }),
        { headers: { "content-length": String(mb * MIB) } },
      );
    },
  });
  ready(server.port);
}

/** A connection to the app's port, as `b` of `link`. */
function joinApp(appPort: number, link: Link): void {
  void Bun.connect<Side>({
    hostname: "127.0.0.1",
    port: appPort,
    socket: {
      open(socket) {
        const end = tcpEnd(socket as Socket<unknown>);
        socket.data = { link, flush: () => end.flush() };
        link.join(end);
      },
      data: (_, chunk) => link.fromB(chunk),
      drain: (socket) => socket.data.flush(),
      close: () => link.close(),
      error: () => link.close(),
    },
  });
}

/**
 * The device: its app pipe (TLS), its ingress (on a Unix socket), and once told the hub's
 * port on stdin, a control tunnel whose every message ("ingress" or "pipe") asks for a
 * stream back, joined to the ingress or straight to the app.
 */
async function runDevice(appPort: number): Promise<void> {
  const pipe = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: DEVICE.certPem, key: DEVICE.keyPem },
    socket: linkedSockets((end) => {
      const link = new Link(end);
      joinApp(appPort, link);
      return link;
    }),
  });
  const ingress = `\0bucky-bench-ingress-${process.pid}`;
  Bun.serve({
    unix: ingress,
    fetch(request) {
      const url = new URL(request.url);
      return fetch(`http://127.0.0.1:${appPort}${url.pathname}${url.search}`);
    },
  });
  ready(pipe.port);
  for await (const line of console) {
    const hub = `wss://127.0.0.1:${line.trim()}`;
    const tls = { tls: pinnedTls(GATEWAY.certPem) } as unknown as string[];
    const control = new WebSocket(`${hub}/control`, tls);
    control.onmessage = (event) => {
      const ws = new WebSocket(`${hub}/accept`, tls);
      ws.binaryType = "arraybuffer";
      let link: Link | undefined;
      ws.onmessage = (message) => link?.fromA(new Uint8Array(message.data as ArrayBuffer));
      ws.onclose = () => link?.close();
      ws.onopen = () => {
        // What the gateway sends comes after the answer to this open: nothing is missed.
        const stream = new Link(clientSocketEnd(ws));
        link = stream;
        if (event.data === "pipe") return joinApp(appPort, stream);
        void Bun.connect<Side>({
          unix: ingress,
          socket: {
            open(socket) {
              const end = tcpEnd(socket as Socket<unknown>);
              socket.data = { link: stream, flush: () => end.flush() };
              stream.join(end);
            },
            data: (_, chunk) => stream.fromB(chunk),
            drain: (socket) => socket.data.flush(),
            close: () => stream.close(),
            error: () => stream.close(),
          },
        });
      };
    };
  }
}

/**
 * The gateway: a front server whose paths are the shapes; the hub the device's tunnel
 * connects to; a Unix door a shape's fetch goes through (one per relayed shape, each stream
 * asked of the device as its connection opens) and one fed from here.
 */
function runGateway(pipePort: number): void {
  let control: { send(text: string): void } | undefined;
  /** Streams asked of the device, in the order asked, each joined when its accept comes. */
  const asked: Link[] = [];
  const hub = Bun.serve<{ end?: End; link?: Link; control: boolean }>({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: GATEWAY.certPem, key: GATEWAY.keyPem },
    fetch(request, server) {
      const data = { control: new URL(request.url).pathname === "/control" };
      if (server.upgrade(request, { data })) return undefined;
      return new Response("WebSocket only", { status: 400 });
    },
    websocket: {
      open(ws) {
        if (ws.data.control) control = ws;
        else {
          const link = asked.shift();
          if (!link) return ws.close();
          ws.data.end = serverSocketEnd(ws);
          ws.data.link = link;
          link.join(ws.data.end);
        }
      },
      message: (ws, message) => ws.data.link?.fromB(message as Buffer),
      drain: (ws) => ws.data.end?.drained?.(),
      close: (ws) => ws.data.link?.close(),
    },
  });
  const door = (name: string, opened: (end: End, socket: Socket<Side>) => Link) => {
    const unix = `\0bucky-bench-door-${name}-${process.pid}`;
    Bun.listen<Side>({ unix, socket: linkedSockets(opened) });
    return unix;
  };
  const streamDoor = (kind: "ingress" | "pipe") =>
    door(kind, (end) => {
      const link = new Link(end);
      asked.push(link);
      control?.send(kind);
      return link;
    });
  const doors = {
    relayed: streamDoor("ingress"),
    "relayed-pipe": streamDoor("pipe"),
    door: door("made", (end, socket) => made(end, socket)),
  };
  const front = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch(request) {
      const url = new URL(request.url);
      const [, shape = ""] = url.pathname.split("/");
      const rest = `/blob${url.search}`;
      if (shape === "direct")
        return fetch(`https://127.0.0.1:${pipePort}${rest}`, { tls: pinnedTls(DEVICE.certPem) });
      const unix = doors[shape as keyof typeof doors];
      if (!unix) return new Response("no such shape", { status: 404 });
      return fetch(`http://localhost${rest}`, { unix });
    },
  });
  ready(front.port, hub.port);
}

/**
 * The door shape's far end: to each request (fetch keeps the connection for the next), an
 * answer of the size it asks for, written into the door's link as fresh 512 KiB pieces, as
 * fast as the door takes them.
 */
function made(end: End, socket: Socket<Side>): Link {
  const link = new Link(end);
  const piece = new Uint8Array(512 * 1024).fill(120);
  let left: number | undefined;
  let paused = false;
  const pump = () => {
    while (!paused && left !== undefined && left > 0) {
      const size = Math.min(piece.length, left);
      left -= size;
      link.fromB(piece.slice(0, size));
    }
    if (left === 0) left = undefined;
  };
  link.join({
    send(request) {
      if (left !== undefined) return true;
      const mb = Number(/mb=(\d+)/.exec(new TextDecoder().decode(request))?.[1]);
      left = mb * MIB;
      link.fromB(new TextEncoder().encode(`HTTP/1.1 200 OK\r\ncontent-length: ${left}\r\n\r\n`));
      queueMicrotask(pump);
      return true;
    },
    pause: () => {
      paused = true;
    },
    resume: () => {
      paused = false;
      pump();
    },
    close: () => socket.end(),
  });
  return link;
}

// ---- the parent: start the roles, take turns downloading, print ----

const TICKS_PER_S = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

const children: ReturnType<typeof Bun.spawn<"pipe", "pipe", "inherit">>[] = [];

async function start(role: string, ...args: string[]) {
  const child = Bun.spawn([process.execPath, import.meta.path, "role", role, ...args], {
    stdin: "pipe",
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
  return { child, ports: text.trim().split(" ").map(Number) };
}

const SHAPES = ["direct", "relayed", "relayed-pipe", "door"] as const;
type Shape = (typeof SHAPES)[number];

async function main(): Promise<void> {
  const [mib = 256, rounds = 3] = process.argv.slice(2).map(Number);
  const app = await start("app");
  const device = await start("device", String(app.ports[0]));
  const gateway = await start("gateway", String(device.ports[0]));
  const [frontPort, hubPort] = gateway.ports;
  device.child.stdin.write(`${hubPort}\n`);
  device.child.stdin.flush();
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const loads = [load()];
  const runs: Record<Shape, { mibs: number; gatewayMs: number; deviceMs: number }[]> = {
    direct: [],
    relayed: [],
    "relayed-pipe": [],
    door: [],
  };
  for (let round = -1; round < rounds; round++) {
    for (const shape of SHAPES) {
      const pids = [gateway.child.pid, device.child.pid];
      const before = pids.map(cpuSeconds);
      const started = performance.now();
      const response = await fetch(`http://127.0.0.1:${frontPort}/${shape}?mb=${mib}`);
      let bytes = 0;
      for await (const chunk of response.body ?? []) bytes += chunk.length;
      if (bytes !== mib * MIB) throw new Error(`${shape}: ${bytes} bytes, not ${mib * MIB}`);
      const seconds = (performance.now() - started) / 1000;
      const [gatewayMs, deviceMs] = pids.map(
        (pid, i) => ((cpuSeconds(pid) - (before[i] as number)) * 1000) / mib,
      ) as [number, number];
      // The first round warms each shape up (connections, JIT) and is not counted.
      if (round >= 0) runs[shape].push({ mibs: mib / seconds, gatewayMs, deviceMs });
    }
  }
  loads.push(load());
  const range = (values: number[], digits: number) => {
    const [low, high] = [Math.min(...values), Math.max(...values)].map((n) => n.toFixed(digits));
    return low === high ? `${low}` : `${low}–${high}`;
  };
  console.log(
    `${mib} MiB through a gateway from a device, loopback, ${rounds} rounds taking turns`,
  );
  console.log(
    `${"".padEnd(13)}${"MiB/s".padStart(10)}${"gateway ms/MiB".padStart(17)}${"device ms/MiB".padStart(16)}`,
  );
  for (const shape of SHAPES) {
    const of = runs[shape];
    console.log(
      `${shape.padEnd(13)}${range(
        of.map((r) => r.mibs),
        0,
      ).padStart(10)}${range(
        of.map((r) => r.gatewayMs),
        2,
      ).padStart(17)}${
        shape === "door"
          ? "".padStart(16)
          : range(
              of.map((r) => r.deviceMs),
              2,
            ).padStart(16)
      }`,
    );
  }
  console.log(`load average before and after: ${loads.join(" / ")}`);
}

if (process.argv[2] === "role") {
  const [role, arg] = process.argv.slice(3);
  if (role === "app") runApp();
  else if (role === "device") await runDevice(Number(arg));
  else if (role === "gateway") runGateway(Number(arg));
  else throw new Error(`no role ${role}`);
} else {
  try {
    await main();
  } finally {
    for (const child of children) child.kill();
    await Promise.all(children.map((child) => child.exited));
  }
}
