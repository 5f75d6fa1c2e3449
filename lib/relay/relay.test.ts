/**
 * The relay in one process, with real sockets and real TLS: a target device that keeps a
 * tunnel, a relay, and a caller going through it. The relay's own view (every byte its
 * WebSockets receive) is recorded, to show it carries only what it cannot read.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server, Socket } from "bun";
import { signDeviceDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { DOCUMENT_HEADER } from "../../protocol/relay.ts";
import { signRequest, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import {
  certificatePem,
  deviceCertificate,
  pinnedTls,
  privateKeyPem,
} from "../../protocol/tls-cert.ts";
import { socketDoor } from "../apps/door.ts";
import { BuckyError } from "../errors.ts";
import { listenAppPipe } from "../gateway/app-pipe.ts";
import { GATEWAY_REFUSED, PIPE_REFUSAL_HEADER } from "../gateway/app-pipe-client.ts";
import { createLog } from "../log.ts";
import { OWN_RETRY_MS, PeerClient } from "../node/peer-client.ts";
import { MemoryContacts, type Peer } from "../node/peers.ts";
import { Forwarders } from "./forwarder.ts";
import { RelayHub, type RelaySocketData } from "./hub.ts";
import { Link } from "./pipe.ts";
import { type PipeServer, retryDelayMs, Tunnels } from "./tunnel.ts";

interface Device {
  readonly seed: Uint8Array;
  readonly key: SigningKey;
  readonly id: DeviceId;
  readonly cert: string;
  readonly document: string;
}

const owner = signingKeyFromSeed(randomBytes(32));
const zone = zoneIdFromPublicKey(owner.publicKey);

function device(name: string, zoneOwner = owner): Device {
  const seed = new Uint8Array(randomBytes(32));
  const key = signingKeyFromSeed(seed);
  return {
    seed,
    key,
    id: deviceIdFromPublicKey(key.publicKey),
    cert: certificatePem(deviceCertificate(key)),
    document: signDeviceDocument(
      { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1_700_000_000 },
      zoneOwner,
    ).jws,
  };
}

const caller = device("caller");
const target = device("target");
const relayDevice = device("relay");
const silent = createLog({ level: "silent" });
const toClose: { stop(force?: boolean): void }[] = [];
afterAll(() => {
  for (const thing of toClose) thing.stop(true);
});

/** The target's peer server: answers with what it received, and its hash. */
const targetServer = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: target.cert, key: privateKeyPem(target.seed) },
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/blob")
      return new Response(randomBytes(Number(url.searchParams.get("size"))));
    if (url.pathname === "/stream") {
      // As fast as it is taken: one MiB at a time, as many as asked.
      const chunk = new Uint8Array(1024 * 1024).fill(120);
      let left = Number(url.searchParams.get("mb"));
      return new Response(
        new ReadableStream({
          pull(controller) {
            if (left-- > 0) controller.enqueue(chunk);
            else controller.close();
          },
        }),
      );
    }
    const body = new Uint8Array(await request.arrayBuffer());
    return Response.json({
      echoed: new TextDecoder().decode(body.subarray(0, 200)),
      sha256: createHash("sha256").update(body).digest("hex"),
    });
  },
});
toClose.push(targetServer);

/**
 * The target's peer API over HTTP on its Unix socket, where the relay's own streams end:
 * it says it answered there, and what it received.
 */
const socketDir = mkdtempSync(join(tmpdir(), "bucky-relay-test-"));
const ownSocket = join(socketDir, "peer.sock");
const ownServer = Bun.serve({
  unix: ownSocket,
  async fetch(request) {
    const body = new Uint8Array(await request.arrayBuffer());
    return Response.json({
      over: "own socket",
      path: new URL(request.url).pathname,
      sha256: createHash("sha256").update(body).digest("hex"),
    });
  },
});
toClose.push(ownServer, { stop: () => rmSync(socketDir, { recursive: true, force: true }) });

/**
 * The target's app pipe as pipe streams see it: it records whom each stream is served as,
 * and answers each request head with `size` bytes of declared length (the size asked).
 */
const pipeStreams: { gateway: string; app: string; refusal: string }[] = [];
const fakePipe: PipeServer = {
  take(gateway, app, refusal, side) {
    pipeStreams.push({ gateway, app, refusal });
    let head = "";
    return {
      fromGateway(chunk) {
        head += new TextDecoder().decode(chunk);
        const ends = head.indexOf("\r\n\r\n");
        if (ends < 0) return;
        const size = Number(/size=(\d+)/.exec(head)?.[1] ?? 0);
        head = head.slice(ends + 4);
        side.end.send(
          Buffer.from(`HTTP/1.1 200 OK\r\nover: app pipe\r\ncontent-length: ${size}\r\n\r\n`),
        );
        side.end.send(new Uint8Array(size).fill(120));
      },
      closed() {},
    };
  },
};

interface RelayUnderTest {
  readonly hub: RelayHub;
  readonly url: string;
  readonly peer: Peer;
  /** Every byte the relay's WebSockets received. */
  readonly seen: Buffer[];
  readonly server: Server<RelaySocketData>;
  /** Whether its hub hears its tunnels' pings (a relay that stops answering does not). */
  readonly pings: { heard: boolean };
  /** Whether its hub hears its tunnels' pongs. */
  readonly pongs: { heard: boolean };
  /** Whether their devices take up streams, and how late. */
  readonly accepts: { taken: boolean; delayMs: number };
}

function startRelay(
  refuse: (zone: string, device: DeviceId) => string | undefined = (z) =>
    z === zone ? undefined : "another zone",
  port = 0,
  hubLog = silent,
  limits: {
    readonly silenceLimitMs?: number;
    readonly askAfterMs?: number;
    readonly pongWaitMs?: number;
    readonly helloLimitMs?: number;
    readonly unidentifiedPerAddress?: number;
    readonly unidentifiedLimit?: number;
    readonly tunnelsPerAddress?: number;
    readonly streamsPerAddress?: number;
  } = {},
): RelayUnderTest {
  const hub = new RelayHub({ self: relayDevice.id, log: hubLog, now: Date.now, refuse, ...limits });
  const seen: Buffer[] = [];
  const pings = { heard: true };
  const pongs = { heard: true };
  const accepts = { taken: true, delayMs: 0 };
  const server = Bun.serve<RelaySocketData>({
    hostname: "127.0.0.1",
    port,
    tls: { cert: relayDevice.cert, key: privateKeyPem(relayDevice.seed) },
    fetch(request, srv) {
      const path = new URL(request.url).pathname.split("/");
      try {
        if (path[3] === "attach") return hub.attach(request, srv);
        if (path[3] === "connect") return hub.connect(request, srv, path[4] ?? "");
        if (path[3] === "accept") {
          if (!accepts.taken) return new Response("not now", { status: 503 });
          if (accepts.delayMs > 0)
            return Bun.sleep(accepts.delayMs).then(() => hub.accept(request, srv, path[4] ?? ""));
          return hub.accept(request, srv, path[4] ?? "");
        }
      } catch (error) {
        return new Response((error as Error).message, {
          status: (error as { httpStatus?: number }).httpStatus ?? 500,
        });
      }
      return new Response("no", { status: 404 });
    },
    websocket: {
      ...hub.websocket,
      message(ws, message) {
        seen.push(Buffer.from(message));
        if (!pings.heard && ws.data.kind === "relay-control" && String(message).includes("ping"))
          return;
        hub.websocket.message(ws, message);
      },
      pong(ws) {
        if (pongs.heard) hub.websocket.pong(ws);
      },
    },
  });
  toClose.push(server, hub);
  const url = `https://127.0.0.1:${server.port}`;
  return {
    hub,
    url,
    server,
    seen,
    pings,
    pongs,
    accepts,
    peer: { id: relayDevice.id, name: "relay", addresses: [url], certPem: relayDevice.cert },
  };
}

const targetPeer: Peer = {
  id: target.id,
  name: "target",
  addresses: [],
  certPem: target.cert,
};

function keepTunnel(
  relay: RelayUnderTest,
  who = target,
  lines: string[] = [],
  takesOwn = false,
  /** Where its peer API over HTTP listens (or once did) for the relay's own streams. */
  peerSocket = ownSocket,
  pingIntervalMs?: number,
  /** Its app pipe's port as it is asked (pipe streams): none, it says it takes none. */
  appPipe?: () => PipeServer | undefined,
): Tunnels {
  const tunnels = new Tunnels({
    key: who.key,
    log: createLog({ level: "info", write: (line) => lines.push(line) }),
    document: () => who.document,
    relayAddress: async () => relay.url,
    localPeer: { host: "127.0.0.1", port: targetServer.port as number },
    ...(takesOwn ? { ownPeer: { unix: peerSocket } } : {}),
    ...(pingIntervalMs ? { pingIntervalMs } : {}),
    ...(appPipe ? { appPipe } : {}),
  });
  tunnels.follow([relay.peer]);
  toClose.push({ stop: () => tunnels.stop() });
  return tunnels;
}

function callerDoor(relay: RelayUnderTest): string {
  return forwardersOf(caller, relay, { hub: false }).addressFor(relay.peer, targetPeer);
}

/**
 * `device`'s forwarders to `relay`: with the relay's hub as its own (streams from it go
 * straight in) unless `hub` is false, and a directory for pipe doors unless none is given.
 */
function forwardersOf(
  device: Device,
  relay: RelayUnderTest,
  options: { readonly hub?: boolean; readonly pipeDoorDir?: string | null } = {},
): Forwarders {
  const pipeDoorDir = options.pipeDoorDir === undefined ? socketDir : options.pipeDoorDir;
  const forwarders = new Forwarders({
    key: device.key,
    self: device.id,
    now: Date.now,
    document: () => device.document,
    relayAddress: async () => relay.url,
    ...(options.hub === false ? {} : { hub: relay.hub }),
    ...(pipeDoorDir ? { pipeDoorDir } : {}),
  });
  toClose.push({ stop: () => forwarders.stop() });
  return forwarders;
}

/** A link to nowhere that says when it is closed. */
function watchedLink(): { link: Link; closed: string[] } {
  const closed: string[] = [];
  const link = new Link({
    send: () => true,
    pause: () => {},
    resume: () => {},
    close: () => void closed.push("closed"),
  });
  return { link, closed };
}

/** The relay's own device calling through its own hub. */
function relayForwarders(relay: RelayUnderTest): Forwarders {
  return forwardersOf(relayDevice, relay);
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/**
 * A TLS connection written by hand: ready once it can be written to, which is after the
 * handshake (what a Bun TLS socket is given in `open` is lost).
 */
function rawTo(port: number, tls: { ca: string; serverName: string }) {
  const received: Buffer[] = [];
  const { promise: ready, resolve } = Promise.withResolvers<Socket<undefined>>();
  void Bun.connect({
    hostname: "127.0.0.1",
    port,
    tls: { ...tls, rejectUnauthorized: true },
    socket: {
      handshake: (socket, success) => {
        if (success) resolve(socket);
      },
      data: (_socket, chunk) => void received.push(Buffer.from(chunk)),
    },
  });
  return { socket: ready, bytes: () => received.reduce((sum, chunk) => sum + chunk.length, 0) };
}

/** Waits until `count` stops growing (the same over two looks a quarter second apart). */
async function untilSteady(what: string, count: () => number): Promise<number> {
  let last = -1;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const now = count();
    if (now === last && now > 0) return now;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    last = now;
    await Bun.sleep(250);
  }
}

describe("relaying", () => {
  let relay: RelayUnderTest;
  afterEach(() => {
    relay.server.stop(true);
    relay.hub.stop();
  });

  test("a request crosses the relay end to end encrypted: the relay never sees the plaintext", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    const secret = `top secret ${randomBytes(8).toString("hex")}`;
    const response = await fetch(`${door}/echo`, {
      method: "POST",
      body: secret,
      tls: pinnedTls(target.cert),
    });
    expect(await response.json()).toMatchObject({ echoed: secret });
    const view = Buffer.concat(relay.seen);
    expect(view.length).toBeGreaterThan(1_000);
    expect(view.includes(Buffer.from(secret))).toBe(false);
    expect(view.includes(Buffer.from("/echo"))).toBe(false);
  });

  test("the caller's pin holds through the relay: another device's certificate is refused", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    await expect(fetch(`${door}/echo`, { tls: pinnedTls(caller.cert) })).rejects.toThrow();
  });

  test("bulk transfers arrive whole, both ways, many at once", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    const uploads = [1, 2, 3].map(async (i) => {
      const body = randomBytes(i * 3 * 1024 * 1024);
      const response = await fetch(`${door}/echo`, {
        method: "POST",
        body,
        tls: pinnedTls(target.cert),
      });
      const { sha256 } = (await response.json()) as { sha256: string };
      expect(sha256).toBe(createHash("sha256").update(body).digest("hex"));
    });
    const download = (async () => {
      const response = await fetch(`${door}/blob?size=${16 * 1024 * 1024}`, {
        tls: pinnedTls(target.cert),
      });
      expect((await response.arrayBuffer()).byteLength).toBe(16 * 1024 * 1024);
    })();
    await Promise.all([...uploads, download]);
  }, 30_000);

  test("a device of another zone, or one whose hello is not its own, gets no tunnel", async () => {
    relay = startRelay();
    const stranger = device("stranger", signingKeyFromSeed(randomBytes(32)));
    keepTunnel(relay, stranger);
    // A device presenting the target's document, but signing with its own key.
    keepTunnel(relay, { ...caller, document: target.document });
    await Bun.sleep(500);
    expect(relay.hub.isAttached(stranger.id)).toBe(false);
    expect(relay.hub.isAttached(target.id)).toBe(false);
    expect(relay.hub.isAttached(caller.id)).toBe(false);
  });

  test("asking for a stream takes a signed request and a document of the signer's", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const path = `/v1/relay/connect/${target.id}`;
    const attempt = (headers: Record<string, string>) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${relay.url.replace("https", "wss")}${path}`, {
          headers,
          tls: pinnedTls(relayDevice.cert),
        } as unknown as string[]);
        ws.onopen = () => {
          ws.close();
          resolve("open");
        };
        ws.onerror = () => resolve("refused");
      });
    const signed = (key: SigningKey, at = Date.now()) =>
      signRequest({ method: "GET", path, audience: relayDevice.id, body: UNSIGNED_BODY }, key, at);
    expect(await attempt({ ...signed(caller.key), [DOCUMENT_HEADER]: caller.document })).toBe(
      "open",
    );
    expect(await attempt({ ...signed(caller.key) })).toBe("refused");
    expect(await attempt({ ...signed(caller.key), [DOCUMENT_HEADER]: target.document })).toBe(
      "refused",
    );
    expect(
      await attempt({
        ...signed(caller.key, Date.now() - 3_600_000),
        [DOCUMENT_HEADER]: caller.document,
      }),
    ).toBe("refused");
  });

  test("a stream to a device without a tunnel fails at once, not after a timeout", async () => {
    relay = startRelay();
    const door = callerDoor(relay);
    const started = Date.now();
    await expect(fetch(`${door}/echo`, { tls: pinnedTls(target.cert) })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  test("a caller that stops reading holds the relay to a bounded amount", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const offeredMiB = 128;
    const door = rawTo(Number(new URL(callerDoor(relay)).port), pinnedTls(target.cert));
    const socket = await door.socket;
    socket.write(`GET /stream?mb=${offeredMiB} HTTP/1.1\r\nhost: target\r\n\r\n`);
    await until("the download to start", () => door.bytes() > 0);
    socket.pause();
    const view = () => relay.seen.reduce((sum, chunk) => sum + chunk.length, 0);
    const carried = await untilSteady("the relay to stop taking more", view);
    // What the relay holds, the sockets' buffers on either side of it, and no more: those
    // grow with the kernel's autotuning up to its bounds (a receive buffer of 32 MiB by
    // Linux's default), so the bound is read from it, with 16 MiB for the relay's and the
    // runtime's own. Far below the 128 MiB a relay without backpressure takes in.
    const kernelMax = (name: string) =>
      Number(readFileSync(`/proc/sys/net/ipv4/${name}`, "utf8").trim().split(/\s+/)[2]);
    const bound = kernelMax("tcp_rmem") + kernelMax("tcp_wmem") + 16 * 1024 * 1024;
    expect(bound).toBeLessThan((offeredMiB / 2) * 1024 * 1024);
    expect(carried).toBeLessThan(bound);
    socket.resume();
    await until("the whole download", () => door.bytes() >= offeredMiB * 1024 * 1024, 20_000);
  }, 60_000);

  test("the relay's own requests cross in the one TLS of the device's connection to it, read as HTTP on the device's socket", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    expect(relay.hub.takes(target.id, "own")).toBe(true);
    const forwarders = relayForwarders(relay);
    const door = forwarders.ownSocketFor(relay.peer, targetPeer);
    // An abstract socket: no file left behind, and a name no other process takes first.
    expect(door).toStartWith("\0bucky-own-");
    const body = randomBytes(8 * 1024 * 1024);
    const response = await fetch("http://own/echo", { method: "POST", body, unix: door });
    expect(await response.json()).toEqual({
      over: "own socket",
      path: "/echo",
      sha256: createHash("sha256").update(body).digest("hex"),
    });
    // The relay's door for other devices' TLS stays as it was, to the TLS server.
    const tls = await fetch(`${forwarders.addressFor(relay.peer, targetPeer)}/echo`, {
      method: "POST",
      body: "x",
      tls: pinnedTls(target.cert),
    });
    expect(await tls.json()).toMatchObject({ echoed: "x" });
  }, 20_000);

  test("the relay's peer client sends its requests and forwarded ones by its own streams, and WebSockets by TLS", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const client = new PeerClient(relayDevice.key, new MemoryContacts(), Date.now, {
      relaysFor: () => [relay.peer],
      document: () => relayDevice.document,
      hub: relay.hub,
    });
    toClose.push({ stop: () => client.stop() });
    const asked = JSON.parse(
      new TextDecoder().decode(await client.post(targetPeer, "/sync", new Uint8Array([1]))),
    );
    expect(asked).toMatchObject({ over: "own socket", path: "/sync" });
    const forwarded = await client.forward(targetPeer, "/v1/ingress/app/", {
      method: "GET",
      headers: new Headers(),
      body: null,
      signal: AbortSignal.timeout(10_000),
    });
    expect(await forwarded.json()).toMatchObject({ over: "own socket", path: "/v1/ingress/app/" });
    expect(await client.reachableAddress(targetPeer)).toStartWith("https://127.0.0.1:");
  });

  test("the relay's own streams ask no proxy the environment names, even with loopback not exempted", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const client = new PeerClient(relayDevice.key, new MemoryContacts(), Date.now, {
      relaysFor: () => [relay.peer],
      document: () => relayDevice.document,
      hub: relay.hub,
    });
    toClose.push({ stop: () => client.stop() });
    // A proxy that answers for anyone: the HTTP of an own stream is in the clear there.
    const proxied: string[] = [];
    const proxy = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request) => {
        proxied.push(request.url);
        return Response.json({ over: "the proxy" });
      },
    });
    const saved = { http_proxy: process.env.http_proxy, NO_PROXY: process.env.NO_PROXY };
    process.env.http_proxy = `http://127.0.0.1:${proxy.port}`;
    delete process.env.NO_PROXY;
    try {
      const forwarded = await client.forward(targetPeer, "/v1/ingress/app/", {
        method: "GET",
        headers: new Headers(),
        body: null,
        signal: AbortSignal.timeout(10_000),
      });
      expect(await forwarded.json()).toMatchObject({ over: "own socket" });
      expect(proxied).toEqual([]);
    } finally {
      for (const [name, value] of Object.entries(saved))
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      proxy.stop(true);
    }
  });

  test("an own stream that fails before an answer (the device's peer.sock gone) is sent once more by TLS only when the device cannot have acted on it, logged once", async () => {
    relay = startRelay();
    // Its hello says it takes own streams, but nothing listens where they end.
    keepTunnel(relay, target, [], true, join(socketDir, "gone.sock"));
    await until("the tunnel", () => relay.hub.takes(target.id, "own"));
    const lines: string[] = [];
    let clock = Date.now();
    const client = new PeerClient(relayDevice.key, new MemoryContacts(), () => clock, {
      relaysFor: () => [relay.peer],
      document: () => relayDevice.document,
      hub: relay.hub,
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
    });
    // The own streams the client opens.
    let ownStreams = 0;
    const connectLocal = relay.hub.connectLocal.bind(relay.hub);
    relay.hub.connectLocal = (device, link, kind) => {
      if (kind === "own") ownStreams += 1;
      connectLocal(device, link, kind);
    };
    toClose.push({ stop: () => client.stop() });
    const fellBack = () => lines.filter((line) => line.includes("own stream failed"));
    const sha = (text: string) => createHash("sha256").update(text).digest("hex");
    const forward = (body: ReadableStream | Uint8Array | null) =>
      client.forward(targetPeer, "/v1/ingress/app/", {
        method: body instanceof Uint8Array ? "PUT" : body ? "POST" : "GET",
        headers: new Headers(),
        body,
        signal: AbortSignal.timeout(10_000),
      });

    // A streamed body none of which the own stream took: its first bytes come only once
    // that stream has failed, so they all go by TLS.
    const streamed = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await until("the own stream to fail", () => fellBack().length > 0);
        controller.enqueue(new TextEncoder().encode("streamed"));
        controller.close();
      },
    });
    expect(await (await forward(streamed)).json()).toEqual({
      echoed: "streamed",
      sha256: sha("streamed"),
    });
    // A peer API GET, bytes by PUT, and no body: sent again as they are (each once the time
    // without own streams is over, so each tries one first).
    clock += OWN_RETRY_MS;
    const asked = await client.get(targetPeer, "/v1/heads");
    expect(JSON.parse(new TextDecoder().decode(asked))).toEqual({ echoed: "", sha256: sha("") });
    clock += OWN_RETRY_MS;
    const bytes = await forward(new TextEncoder().encode("bytes"));
    expect(await bytes.json()).toEqual({ echoed: "bytes", sha256: sha("bytes") });
    clock += OWN_RETRY_MS;
    expect(await (await forward(null)).json()).toEqual({ echoed: "", sha256: sha("") });
    expect(ownStreams).toBe(4);
    // A POST of bytes is not sent again: the device may have taken it, the answer lost.
    clock += OWN_RETRY_MS;
    const posted = client.forward(targetPeer, "/v1/ingress/app/", {
      method: "POST",
      headers: new Headers(),
      body: new TextEncoder().encode("once"),
      signal: AbortSignal.timeout(10_000),
    });
    expect(
      await posted.then(
        () => "answered",
        () => "failed",
      ),
    ).toBe("failed");
    expect(ownStreams).toBe(5);
    // Nor a peer API POST (a sync, a backup target's create): its bytes went out with it.
    clock += OWN_RETRY_MS;
    const created = client.post(targetPeer, "/v1/backup/create", new TextEncoder().encode("once"));
    expect(
      await created.then(
        () => "answered",
        () => "failed",
      ),
    ).toBe("failed");
    expect(ownStreams).toBe(6);
    // Meanwhile, by TLS alone.
    expect(await (await forward(null)).json()).toEqual({ echoed: "", sha256: sha("") });
    expect(ownStreams).toBe(6);
    // Said once, not once a request.
    expect(fellBack()).toHaveLength(1);
    expect(fellBack()[0]).toContain("target");
  }, 20_000);

  test("a device that does not say it takes the relay's own streams (an older bucky) is sent only TLS streams", async () => {
    relay = startRelay();
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    expect(relay.hub.takes(target.id, "own")).toBe(false);
    const forwarders = relayForwarders(relay);
    expect(forwarders.ownSocketFor(relay.peer, targetPeer)).toBeUndefined();
    // Nor does the hub open one asked for meanwhile (the tunnel replaced by an older one).
    const { link, closed } = watchedLink();
    relay.hub.connectLocal(target.id, link, "own");
    expect(closed).toEqual(["closed"]);
    const response = await fetch(`${forwarders.addressFor(relay.peer, targetPeer)}/echo`, {
      method: "POST",
      body: "older",
      tls: pinnedTls(target.cert),
    });
    expect(await response.json()).toMatchObject({ echoed: "older" });
  });

  test("only the relay itself has own streams: another device's door through it is TLS to the device's certificate", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const forwarders = forwardersOf(caller, relay);
    expect(forwarders.ownSocketFor(relay.peer, targetPeer)).toBeUndefined();
    const door = callerDoor(relay);
    const secret = `caller's ${randomBytes(8).toString("hex")}`;
    const response = await fetch(`${door}/echo`, {
      method: "POST",
      body: secret,
      tls: pinnedTls(target.cert),
    });
    expect(await response.json()).toMatchObject({ echoed: secret });
    expect(Buffer.concat(relay.seen).includes(Buffer.from(secret))).toBe(false);
  });

  test("a pipe stream is served by the device's app pipe, as the relay's connection for the app named, its answer's length kept", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true, ownSocket, undefined, () => fakePipe);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    expect(relay.hub.takes(target.id, "pipe")).toBe(true);
    const forwarders = relayForwarders(relay);
    const door = forwarders.pipeSocketFor(relay.peer, targetPeer, { app: "notes", refusal: "p" });
    // A socket in the directory given, only its user's to enter: not an abstract one, as
    // own streams' doors are, which any process of the host could connect to.
    expect(door).toBe(join(socketDir, "pipe0"));
    const size = 3 * 1024 * 1024 + 5;
    pipeStreams.length = 0;
    const response = await fetch(`http://pipe/x?size=${size}`, { unix: door });
    expect(response.headers.get("over")).toBe("app pipe");
    expect(response.headers.get("content-length")).toBe(String(size));
    expect((await response.arrayBuffer()).byteLength).toBe(size);
    // The relay is the gateway the pipe serves: the device pinned its certificate.
    expect(pipeStreams).toEqual([{ gateway: relayDevice.id, app: "notes", refusal: "p" }]);
    // A door an app: another app's is another.
    expect(
      forwarders.pipeSocketFor(relay.peer, targetPeer, { app: "files", refusal: "q" }),
    ).not.toBe(door);
    // Its other doors are as they were.
    expect(forwarders.ownSocketFor(relay.peer, targetPeer)).toStartWith("\0bucky-own-");
    // With no such directory, no pipe door: the gateway goes by the ingress.
    const withoutDir = forwardersOf(relayDevice, relay, { pipeDoorDir: null });
    expect(
      withoutDir.pipeSocketFor(relay.peer, targetPeer, { app: "notes", refusal: "p" }),
    ).toBeUndefined();
    // A pipe stream that names no app is not opened: the device would drop its tunnel.
    const { link, closed } = watchedLink();
    relay.hub.connectLocal(target.id, link, "pipe");
    expect(closed).toEqual(["closed"]);
    expect(relay.hub.takes(target.id, "pipe")).toBe(true);
  });

  test("a real app pipe behind a pipe stream: the relay's connection is its gateway's, refusals carry their proof", async () => {
    // The device's own pipe (lib/gateway/app-pipe.ts), not a stand-in: what the gateway's
    // pipe client reads to fall back to the ingress (the marker) must come through the relay
    // as the pipe wrote it, a refusal of this app apart from one of the gateway itself.
    const appServer = Bun.serve({
      unix: join(socketDir, "notes-app.sock"),
      fetch: (request) => new Response(`notes answered ${new URL(request.url).pathname}`),
    });
    toClose.push({ stop: () => appServer.stop(true) });
    const gateways = new Set<string>([relayDevice.id]);
    const listeners = new Set<() => void>();
    const realPipe = listenAppPipe({
      hostname: "127.0.0.1",
      port: 0,
      cert: target.cert,
      key: privateKeyPem(target.seed),
      rules: {
        admit(from, app) {
          if (!gateways.has(from))
            throw new BuckyError("E_PERMISSION", "not a gateway of the zone");
          if (app !== "notes") throw new BuckyError("E_UNAVAILABLE", `${app} is not running here`);
          return { door: socketDoor("notes", join(socketDir, "notes-app.sock")), gateway: "relay" };
        },
        isGateway: (from) => gateways.has(from),
        person: () => {
          throw new BuckyError("E_PERMISSION", "nobody is signed in here");
        },
        onChange(listener) {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      },
      log: createLog({ level: "silent", write: () => {} }),
    });
    toClose.push(realPipe);
    relay = startRelay();
    keepTunnel(relay, target, [], true, ownSocket, undefined, () => realPipe);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const forwarders = relayForwarders(relay);
    const ask = async (app: string, refusal: string) => {
      const door = forwarders.pipeSocketFor(relay.peer, targetPeer, { app, refusal });
      const response = await fetch("http://pipe/hello", { unix: door });
      return {
        status: response.status,
        marker: response.headers.get(PIPE_REFUSAL_HEADER),
        text: await response.text(),
      };
    };
    // A refusal proof is one for each app's certificate (refusalProof), named as a stream opens.
    expect(await ask("notes", "notes-proof")).toEqual({
      status: 200,
      marker: null,
      text: "notes answered /hello",
    });
    // An app not running here: refused with the proof the stream named, its reason said.
    const notHere = await ask("files", "files-proof");
    expect(notHere.status).toBe(503);
    expect(notHere.marker).toBe(`files-proof ${GATEWAY_REFUSED}`);
    expect(notHere.text).toContain("files is not running here");
    // The relay no longer a gateway of the zone (as the node says at such a change): refused
    // as such, on the stream kept from before too.
    gateways.clear();
    for (const listener of listeners) listener();
    const notGateway = await ask("notes", "notes-proof");
    expect(notGateway.status).toBe(403);
    expect(notGateway.marker).toBe(`notes-proof ${GATEWAY_REFUSED}`);
  });

  test("a device that does not say it takes pipe streams (an older bucky) is sent none", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], true);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    expect(relay.hub.takes(target.id, "pipe")).toBe(false);
    expect(
      relayForwarders(relay).pipeSocketFor(relay.peer, targetPeer, { app: "notes", refusal: "p" }),
    ).toBeUndefined();
    // Nor does the hub open one asked for meanwhile: its link closes at once.
    const { link, closed } = watchedLink();
    relay.hub.connectLocal(target.id, link, "pipe", { app: "notes", refusal: "p" });
    expect(closed).toEqual(["closed"]);
  });

  test("only the relay itself opens pipe streams: another device's forwarders give no pipe door", async () => {
    relay = startRelay();
    keepTunnel(relay, target, [], false, ownSocket, undefined, () => fakePipe);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const forwarders = forwardersOf(caller, relay);
    expect(
      forwarders.pipeSocketFor(relay.peer, targetPeer, { app: "notes", refusal: "p" }),
    ).toBeUndefined();
  });

  test("a pipe stream to a device whose pipe does not listen yet, or for a name no app has, is closed at once", async () => {
    relay = startRelay();
    let pipe: PipeServer | undefined;
    keepTunnel(relay, target, [], false, ownSocket, undefined, () => pipe);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const forwarders = relayForwarders(relay);
    const startedMs = Date.now();
    const none = forwarders.pipeSocketFor(relay.peer, targetPeer, { app: "notes", refusal: "p" });
    await expect(fetch("http://pipe/x?size=1", { unix: none })).rejects.toThrow();
    pipe = fakePipe;
    pipeStreams.length = 0;
    const badName = forwarders.pipeSocketFor(relay.peer, targetPeer, {
      app: "No/pe",
      refusal: "p",
    });
    await expect(fetch("http://pipe/x?size=1", { unix: badName })).rejects.toThrow();
    expect(pipeStreams).toEqual([]);
    // The relay would wait 10 s for a stream nobody takes up.
    expect(Date.now() - startedMs).toBeLessThan(5_000);
  });

  test("a device takes an own stream only when its hello said it does", async () => {
    // A relay that sends "open-own" to a device that did not ask, then a stream of its own.
    const accepted: string[] = [];
    const server = Bun.serve<{ control: boolean }>({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: relayDevice.cert, key: privateKeyPem(relayDevice.seed) },
      fetch(request, srv) {
        const path = new URL(request.url).pathname.split("/");
        if (path[3] === "accept") accepted.push(path[4] ?? "");
        srv.upgrade(request, { data: { control: path[3] === "attach" } });
        return undefined;
      },
      websocket: {
        open(ws) {
          if (ws.data.control) ws.send(JSON.stringify({ type: "challenge", nonce: "n" }));
        },
        message(ws) {
          if (!ws.data.control) return;
          ws.send(JSON.stringify({ type: "ready" }));
          ws.send(JSON.stringify({ type: "open-own", stream: "not-asked-for" }));
          ws.send(
            JSON.stringify({
              type: "open-pipe",
              stream: "not-asked-for-either",
              app: "notes",
              refusal: "r",
            }),
          );
          ws.send(JSON.stringify({ type: "open", stream: "asked-for" }));
        },
      },
    });
    toClose.push(server);
    relay = startRelay();
    const pretender = { ...relay, url: `https://127.0.0.1:${server.port}` };
    keepTunnel(pretender);
    await until("the device to take the stream it may", () => accepted.includes("asked-for"));
    expect(accepted).toEqual(["asked-for"]);
  });

  test("a relay that stops answering ends the streams it carries, said once in the tunnel's warning", async () => {
    relay = startRelay();
    const lines: string[] = [];
    keepTunnel(relay, target, lines, false, ownSocket, 100);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    const total = 256 * 1024 * 1024;
    const response = await fetch(`${door}/stream?mb=256`, { tls: pinnedTls(target.cert) });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = (await reader.read()).value?.length ?? 0;
    // The caller stops reading while the relay stops answering the tunnel's pings.
    relay.pings.heard = false;
    const down = () => lines.filter((l) => l.includes("relay tunnel down"));
    await until("the tunnel to be taken for dead", () => down().length > 0);
    const ended = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return received < total;
          received += value.length;
        }
      } catch {
        return true;
      }
    })();
    expect({ ended, short: received < total }).toEqual({ ended: true, short: true });
    expect(down()[0]).toContain("streamsEnded=1");
  }, 20_000);

  test("a tunnel whose device falls silent is cut after the limit; one whose device pings is kept", async () => {
    const hubLines: string[] = [];
    relay = startRelay(
      undefined,
      0,
      createLog({ level: "info", write: (line) => hubLines.push(line) }),
      { silenceLimitMs: 600 },
    );
    const chatty = device("chatty");
    // The target pings once a minute, as a device that died says nothing; chatty every 100 ms.
    keepTunnel(relay, target, [], false, ownSocket, 60_000);
    keepTunnel(relay, chatty, [], false, ownSocket, 100);
    await until(
      "both tunnels",
      () => relay.hub.isAttached(target.id) && relay.hub.isAttached(chatty.id),
    );
    const cuts = () => hubLines.filter((line) => line.includes("relay tunnel silent, cut"));
    // The target comes back (it is alive here) and falls silent again: cut twice.
    await until("the silent tunnel to be cut twice", () => cuts().length >= 2, 10_000);
    expect(cuts().every((line) => line.includes("device=target"))).toBe(true);
    // Never cut (above); attached, once any reconnection of its own (a pong late under
    // load) is through.
    await until("chatty's tunnel", () => relay.hub.isAttached(chatty.id));
  }, 20_000);

  test("a tunnel whose device is refused since its hello (revoked) is cut at the next sweep, and not taken again", async () => {
    const hubLines: string[] = [];
    let revoked = false;
    relay = startRelay(
      (z, d) =>
        z !== zone
          ? "another zone"
          : revoked && d === target.id
            ? "the device is revoked in this zone"
            : undefined,
      0,
      createLog({ level: "info", write: (line) => hubLines.push(line) }),
      { silenceLimitMs: 600 },
    );
    keepTunnel(relay, target, [], false, ownSocket, 100);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    revoked = true;
    await until("the tunnel to be cut", () =>
      hubLines.some(
        (line) => line.includes("relay tunnel refused now, cut") && line.includes("device=target"),
      ),
    );
    await until("the device's hello to be refused", () =>
      hubLines.some(
        (line) => line.includes("relay tunnel refused error=") && line.includes("revoked"),
      ),
    );
    expect(relay.hub.isAttached(target.id)).toBe(false);
  }, 20_000);

  /** A POST to the target's echo by a new stream through `door`: answered, and when. */
  async function echoBy(door: string) {
    const startedMs = Date.now();
    try {
      const response = await fetch(`${door}/echo`, {
        method: "POST",
        body: "hi",
        tls: pinnedTls(target.cert),
        // A new stream each time, not the kept connection of the last.
        keepalive: false,
        signal: AbortSignal.timeout(8_000),
      });
      await response.arrayBuffer();
      return { answered: response.status === 200, afterMs: Date.now() - startedMs };
    } catch {
      return { answered: false, afterMs: Date.now() - startedMs };
    }
  }

  test("a quiet tunnel whose device neither takes a stream nor answers a pong: each stream fails in the pong's wait, and is carried once it takes them again", async () => {
    const hubLines: string[] = [];
    relay = startRelay(
      undefined,
      0,
      createLog({ level: "info", write: (line) => hubLines.push(line) }),
      { askAfterMs: 0, pongWaitMs: 500 },
    );
    keepTunnel(relay, target, [], false, ownSocket, 60_000);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    // The device gone silent, its tunnel still standing: no pong heard, no stream taken.
    relay.pongs.heard = false;
    relay.accepts.taken = false;
    const first = await echoBy(door);
    const next = await echoBy(door);
    // It takes streams again, its pongs still not heard (its tunnel's bytes held, say, by
    // TCP's backoff after a blip): a stream taken up counts as hearing it.
    relay.accepts.taken = true;
    const again = await echoBy(door);
    expect({ first: first.answered, next: next.answered, again: again.answered }).toEqual({
      first: false,
      next: false,
      again: true,
    });
    // Not the 10 s a stream has to be taken up.
    expect(first.afterMs).toBeLessThan(3_000);
    expect(next.afterMs).toBeLessThan(3_000);
    expect(hubLines.filter((line) => line.includes("relay tunnel not answering"))).toHaveLength(1);
    expect(hubLines.filter((line) => line.includes("relay tunnel answering again"))).toHaveLength(
      1,
    );
  }, 20_000);

  test("a device that takes its streams keeps them though its pongs are not heard (its bytes held by TCP's backoff after a blip)", async () => {
    relay = startRelay(undefined, 0, silent, { askAfterMs: 0, pongWaitMs: 300 });
    keepTunnel(relay, target, [], false, ownSocket, 60_000);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    relay.pongs.heard = false;
    const startedMs = Date.now();
    const answered: boolean[] = [];
    while (Date.now() - startedMs < 1_200) {
      answered.push((await echoBy(door)).answered);
      await until("a pong's wait", () => Date.now() - startedMs > answered.length * 400, 2_000);
    }
    expect(answered.length).toBeGreaterThanOrEqual(3);
    expect(answered.every((a) => a)).toBe(true);
  }, 20_000);

  test("a stream asked of a quiet tunnel asks its device for a pong: a device that answers keeps its stream's whole time to take it", async () => {
    // Every stream asks (askAfterMs 0), and a pong has 300 ms: the device's runtime answers.
    relay = startRelay(undefined, 0, silent, { askAfterMs: 0, pongWaitMs: 300 });
    keepTunnel(relay, target, [], false, ownSocket, 60_000);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    // It takes its streams up late (a busy device), past the pong's wait.
    relay.accepts.delayMs = 800;
    const echoed = await echoBy(callerDoor(relay));
    expect(echoed.answered).toBe(true);
    expect(echoed.afterMs).toBeGreaterThan(700);
  }, 20_000);

  test("a control socket that says no hello is cut at the hello limit; a tunnel that said it is kept", async () => {
    const hubLines: string[] = [];
    const helloLimitMs = 300;
    relay = startRelay(
      undefined,
      0,
      createLog({ level: "info", write: (line) => hubLines.push(line) }),
      { helloLimitMs },
    );
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    // Connects, takes its challenge, and says nothing.
    const mute = new WebSocket(`${relay.url.replace("https", "wss")}/v1/relay/attach`, {
      tls: pinnedTls(relayDevice.cert),
    } as unknown as string[]);
    let challenged = false;
    let cut = false;
    mute.onmessage = () => {
      challenged = true;
    };
    mute.onclose = () => {
      cut = true;
    };
    // Bun's own idle limit would hold it 120 s.
    await until("the mute socket to be cut", () => cut, 5_000);
    expect(challenged).toBe(true);
    expect(
      hubLines.filter((line) => line.includes(`no hello within ${helloLimitMs} ms`)),
    ).toHaveLength(1);
    // The tunnel that said its hello, open since before the mute socket, is past the limit.
    expect(relay.hub.isAttached(target.id)).toBe(true);
  });

  test("control sockets that say no hello are bounded per address: past it one is refused, and a device gets its tunnel once one goes", async () => {
    relay = startRelay(undefined, 0, silent, { unidentifiedPerAddress: 3 });
    /** A control socket that takes its challenge and says nothing: once it opened, or was refused. */
    const mute = () => {
      const ws = new WebSocket(`${relay.url.replace("https", "wss")}/v1/relay/attach`, {
        tls: pinnedTls(relayDevice.cert),
      } as unknown as string[]);
      const outcome = new Promise<"open" | "refused">((resolve) => {
        ws.onmessage = () => resolve("open");
        ws.onclose = () => resolve("refused");
      });
      return { ws, outcome };
    };
    const held = [mute(), mute(), mute()];
    expect(await Promise.all(held.map((m) => m.outcome))).toEqual(["open", "open", "open"]);
    // Held for the hello limit each, as many as one host could open, they took the relay's
    // descriptors: a fourth from the same address is refused at once.
    expect(await mute().outcome).toBe("refused");
    const lines: string[] = [];
    keepTunnel(relay, target, lines);
    await until("the device's attempt to be refused", () =>
      lines.some((line) => line.includes("relay tunnel cannot connect")),
    );
    expect(relay.hub.isAttached(target.id)).toBe(false);
    held[0]?.ws.close();
    await until("the tunnel once a mute socket went", () => relay.hub.isAttached(target.id));
  });

  test("control sockets that say no hello, every slot of the relay taken: the one waiting longest is cut, and a device gets its tunnel at once", async () => {
    relay = startRelay(undefined, 0, silent, { unidentifiedPerAddress: 10, unidentifiedLimit: 3 });
    const mute = () => {
      const ws = new WebSocket(`${relay.url.replace("https", "wss")}/v1/relay/attach`, {
        tls: pinnedTls(relayDevice.cert),
      } as unknown as string[]);
      const opened = new Promise<void>((resolve) => {
        ws.onmessage = () => resolve();
      });
      const closed = new Promise<"closed">((resolve) => {
        ws.onclose = () => resolve("closed");
      });
      return { ws, opened, closed };
    };
    // Opened one after another, so which waited longest is known.
    const held = [];
    for (let i = 0; i < 3; i++) {
      const m = mute();
      await m.opened;
      held.push(m);
    }
    keepTunnel(relay, target);
    await until("the device's tunnel, with every slot taken by mute sockets", () =>
      relay.hub.isAttached(target.id),
    );
    expect(await held[0]?.closed).toBe("closed");
    // The others wait on, within their hello limit.
    expect(held.slice(1).map((m) => m.ws.readyState)).toEqual([WebSocket.OPEN, WebSocket.OPEN]);
  });

  test("tunnels are bounded per address: past it a hello is refused, and taken once one goes", async () => {
    const hubLines: string[] = [];
    relay = startRelay(
      undefined,
      0,
      createLog({ level: "info", write: (line) => hubLines.push(line) }),
      { tunnelsPerAddress: 2 },
    );
    const third = device("third");
    const first = keepTunnel(relay, target);
    keepTunnel(relay, caller);
    await until(
      "two tunnels",
      () => relay.hub.isAttached(target.id) && relay.hub.isAttached(caller.id),
    );
    const thirds = keepTunnel(relay, third);
    // Anyone makes a zone and its devices in a moment: one host held as many as it liked.
    await until("the third refused", () =>
      hubLines.some((line) => line.includes("as many tunnels as it takes from this address")),
    );
    expect(relay.hub.isAttached(third.id)).toBe(false);
    first.stop();
    await until("the first gone", () => !relay.hub.isAttached(target.id));
    // Tried again as its next sync with the relay has it try (relayAnswering), not at the
    // end of its backoff, which each refusal doubled (past this wait under load).
    thirds.relayAnswering(relay.peer.id);
    await until("the third once one went", () => relay.hub.isAttached(third.id));
  });

  test("streams are bounded per caller's address: past it one fails at once, and is taken once one ends", async () => {
    relay = startRelay(undefined, 0, silent, { streamsPerAddress: 2 });
    keepTunnel(relay);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const door = callerDoor(relay);
    const port = Number(new URL(door).port);
    // Two streams held open, their TLS to the device done.
    const held = [rawTo(port, pinnedTls(target.cert)), rawTo(port, pinnedTls(target.cert))];
    const [first] = await Promise.all(held.map((h) => h.socket));
    // Asking takes a device of a zone the relay serves: for a relay-only node, anyone's.
    const started = Date.now();
    await expect(fetch(`${door}/echo`, { tls: pinnedTls(target.cert) })).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(3_000);
    first?.end();
    const deadline = Date.now() + 5_000;
    let answer: unknown;
    while (answer === undefined && Date.now() < deadline) {
      answer = await fetch(`${door}/echo`, {
        method: "POST",
        body: "again",
        tls: pinnedTls(target.cert),
      }).then(
        (response) => response.json(),
        () => Bun.sleep(50).then(() => undefined),
      );
    }
    expect(answer).toMatchObject({ echoed: "again" });
  });

  test("a tunnel comes back after the relay restarts, logged once each way", async () => {
    relay = startRelay();
    const lines: string[] = [];
    keepTunnel(relay, target, lines);
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const port = relay.server.port as number;
    relay.server.stop(true);
    relay.hub.stop();
    await Bun.sleep(2_500); // several attempts fail meanwhile
    relay = startRelay(undefined, port);
    // The tunnel asks the old address; the new relay listens there.
    await until("the tunnel to return", () => relay.hub.isAttached(target.id), 10_000);
    // The relay holds the tunnel a moment before the device hears so and logs it.
    const up = () => lines.filter((l) => l.includes("relay tunnel up")).length;
    await until("the device to log it", () => up() >= 2);
    const relayLines = lines.filter((line) => line.includes("relay tunnel"));
    expect(relayLines.filter((l) => l.includes("relay tunnel down"))).toHaveLength(1);
    expect(relayLines.filter((l) => l.includes("relay tunnel up"))).toHaveLength(2);
    expect(relayLines.some((l) => l.includes("cannot connect"))).toBe(false);
  }, 20_000);

  test("a relay heard again gets its tunnel back at once, not at the backoff's next turn", async () => {
    relay = startRelay();
    const lines: string[] = [];
    const tunnels = new Tunnels({
      key: target.key,
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
      document: () => target.document,
      relayAddress: async () => relay.url,
      localPeer: { host: "127.0.0.1", port: targetServer.port as number },
      // As after an outage of minutes: the next attempt a minute away.
      retryDelayMs: () => 60_000,
    });
    tunnels.follow([relay.peer]);
    toClose.push({ stop: () => tunnels.stop() });
    await until("the tunnel", () => relay.hub.isAttached(target.id));
    const port = relay.server.port as number;
    relay.server.stop(true);
    relay.hub.stop();
    await until("the device to hear it is down", () =>
      lines.some((line) => line.includes("relay tunnel down")),
    );
    relay = startRelay(undefined, port);
    tunnels.relayAnswering(relay.peer.id);
    await until("the tunnel to return", () => relay.hub.isAttached(target.id), 5_000);
  });
});

describe("a relay that takes connections and never answers", () => {
  // A port that takes every connection and says nothing: a relay whose process hangs, or
  // one whose packets are dropped after its probe, looks so to a connect (or worse: no
  // answer to a SYN held the connect for the kernel's two minutes).
  let connections = 0;
  const tarpit = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open: () => void connections++,
      data() {},
    },
  });
  toClose.push(tarpit);
  const address = `https://127.0.0.1:${tarpit.port}`;
  const hung: Peer = {
    id: relayDevice.id,
    name: "hung",
    addresses: [address],
    certPem: relayDevice.cert,
  };

  test("a stream through it fails within the bound, and the relay's address is said unanswered", async () => {
    const unanswered: string[] = [];
    const forwarders = new Forwarders({
      key: caller.key,
      self: caller.id,
      now: Date.now,
      document: () => caller.document,
      relayAddress: async () => address,
      relayUnanswered: (address) => void unanswered.push(address),
      connectTimeoutMs: 300,
    });
    toClose.push({ stop: () => forwarders.stop() });
    const door = new URL(forwarders.addressFor(hung, targetPeer));
    let closed = false;
    await Bun.connect({
      hostname: door.hostname,
      port: Number(door.port),
      socket: {
        data() {},
        close: () => {
          closed = true;
        },
      },
    });
    await until("the stream to be given up", () => closed, 3_000);
    expect(unanswered).toEqual([address]);
  });

  test("a tunnel to it is given up within the bound, said once, and tried again", async () => {
    const lines: string[] = [];
    const before = connections;
    const tunnels = new Tunnels({
      key: target.key,
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
      document: () => target.document,
      relayAddress: async () => address,
      localPeer: { host: "127.0.0.1", port: targetServer.port as number },
      readyTimeoutMs: 300,
    });
    tunnels.follow([hung]);
    toClose.push({ stop: () => tunnels.stop() });
    // The first attempt given up at 0.3 s, the next 0.5-1 s on, given up too.
    await until("a second attempt", () => connections - before >= 2, 4_000);
    const said = lines.filter((line) => line.includes("relay tunnel cannot connect"));
    expect(said).toHaveLength(1);
    expect(said[0]).toContain("did not answer within 0.3 s");
  });
});

describe("retryDelayMs", () => {
  test("doubles from about a second to at most a minute, jittered within the upper half", () => {
    expect(retryDelayMs(1, () => 0)).toBe(500);
    expect(retryDelayMs(1, () => 1)).toBe(1_000);
    expect(retryDelayMs(4, () => 1)).toBe(8_000);
    expect(retryDelayMs(30, () => 1)).toBe(60_000);
    expect(retryDelayMs(30, () => 0)).toBe(30_000);
    for (let failures = 1; failures < 40; failures++) {
      const delay = retryDelayMs(failures);
      expect(delay).toBeGreaterThanOrEqual(500);
      expect(delay).toBeLessThanOrEqual(60_000);
    }
  });
});
