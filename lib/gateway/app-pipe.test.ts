import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket } from "bun";
import { appCertificate } from "../../protocol/app-certificate.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { AppName } from "../../protocol/names.ts";
import {
  certificatePem,
  deviceCertificate,
  pinnedTls,
  privateKeyPem,
} from "../../protocol/tls-cert.ts";
import type { UserSession } from "../../protocol/user-session.ts";
import { type AppDoor, portDoor, socketDoor } from "../apps/door.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { Viewer } from "../users/access.ts";
import {
  type AppPipe,
  type AppPipeRules,
  listenAppPipe,
  PIPE_CONNECTIONS_PER_GATEWAY,
  PIPE_HANDSHAKES_WAITING,
  PIPE_REFUSALS_WAITING,
} from "./app-pipe.ts";
import { PIPE_REFUSAL_HEADER, refusalProof } from "./app-pipe-client.ts";

const notes = "notes" as AppName;
const deviceSeed = new Uint8Array(32).fill(1);
const device = signingKeyFromSeed(deviceSeed);
const deviceCertPem = certificatePem(deviceCertificate(device));
const gatewaySeed = new Uint8Array(32).fill(2);
const gateway = signingKeyFromSeed(gatewaySeed);
const gatewayId = deviceIdFromPublicKey(gateway.publicKey);

/** What the fake node says: who may connect, which assertions stand. */
const allowed = new Set<DeviceId>([gatewayId]);
let appRunning = true;
const listeners = new Set<() => void>();
const changed = () => {
  for (const listener of listeners) listener();
};
const alice: Viewer = {
  kind: "person",
  user: "alice" as never,
  role: "member",
  session: {} as UserSession,
};
let scratch: string;
/** Sends the next chunk of the app's open response. */
let sendNext: () => void = () => {};
let appServer: ReturnType<typeof Bun.serve>;
let pipe: AppPipe;

/** An assertion "good:<app>" stands for alice to that app alone, the first time after a turn. */
function person(app: AppName, assertion: string): Viewer | Promise<Viewer> {
  const check = () => {
    if (assertion !== `good:${app}`)
      throw new BuckyError("E_PERMISSION", "the person this request came with: not for this app");
    return alice;
  };
  return assertion.endsWith("later") ? Promise.resolve().then(check) : check();
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "bucky-app-pipe-"));
  const socket = join(scratch, "app.sock");
  // The app says what it was told: who is signed in, and any bucky header it received.
  appServer = Bun.serve({
    unix: socket,
    async fetch(request) {
      if (new URL(request.url).pathname === "/endless")
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("first"));
              sendNext = () => controller.enqueue(new TextEncoder().encode("next"));
            },
          }),
        );
      const bucky: Record<string, string> = {};
      request.headers.forEach((value, name) => {
        if (name.replaceAll("_", "-").startsWith("bucky-")) bucky[name] = value;
      });
      return Response.json({
        path: new URL(request.url).pathname,
        bucky,
        body: await request.text(),
      });
    },
  });
  const door = socketDoor(notes, socket);
  const rules: AppPipeRules = {
    admit(from, app) {
      if (!allowed.has(from)) throw new BuckyError("E_PERMISSION", "not a gateway of the zone");
      if (app !== notes || !appRunning)
        throw new BuckyError("E_UNAVAILABLE", `${app} is not running here`);
      return { door, gateway: "gw" };
    },
    isGateway: (from) => allowed.has(from),
    person: (app, assertion) => person(app, assertion.replace(/-later$/, "")),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  pipe = listenAppPipe({
    hostname: "127.0.0.1",
    port: 0,
    cert: deviceCertPem,
    key: privateKeyPem(deviceSeed),
    rules,
    log: createLog({ level: "silent", write: () => {} }),
  });
});

afterAll(() => {
  pipe.stop();
  appServer.stop(true);
  rmSync(scratch, { recursive: true, force: true });
});

/** The TLS options of a gateway presenting `der` with the key of `seed`. */
function presenting(der: Uint8Array, seed: Uint8Array) {
  return { ...pinnedTls(deviceCertPem), cert: certificatePem(der), key: privateKeyPem(seed) };
}

function fetchThrough(
  path: string,
  init: RequestInit & { tls?: object } = {},
  tls: object = presenting(appCertificate(gateway, notes), gatewaySeed),
): Promise<Response> {
  return fetch(`https://127.0.0.1:${pipe.port}${path}`, { ...init, tls } as RequestInit);
}

describe("the app pipe, as a gateway uses it", () => {
  test("the app hears who the device checked, and never a client's own bucky headers", async () => {
    const response = await fetchThrough("/who", {
      headers: {
        "bucky-app-user": "good:notes",
        "bucky-user": "mallory",
        Bucky_User: "mallory",
        "bucky-user-role": "owner",
      },
    });
    expect(await response.json()).toEqual({
      path: "/who",
      bucky: { "bucky-user": "alice", "bucky-user-role": "member" },
      body: "",
    });
  });

  test("a person checked after a turn, with a body that came meanwhile", async () => {
    const body = "x".repeat(200_000);
    const response = await fetchThrough("/post", {
      method: "POST",
      headers: { "bucky-app-user": "good:notes-later" },
      body,
    });
    expect(await response.json()).toEqual({
      path: "/post",
      bucky: { "bucky-user": "alice", "bucky-user-role": "member" },
      body,
    });
  });

  test("no person: no person headers, whatever the client said", async () => {
    const response = await fetchThrough("/", { headers: { "bucky-user": "mallory" } });
    expect(((await response.json()) as { bucky: object }).bucky).toEqual({});
  });

  test("an assertion for another app is refused with a whole 403", async () => {
    const response = await fetchThrough("/", { headers: { "bucky-app-user": "good:photos" } });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "E_PERMISSION",
    );
  });
});

describe("who the app pipe takes", () => {
  test("no client certificate: refused at the handshake", async () => {
    await expect(fetchThrough("/", {}, pinnedTls(deviceCertPem))).rejects.toThrow();
  });

  test("a device certificate, not an app certificate: refused at the handshake", async () => {
    await expect(
      fetchThrough("/", {}, presenting(deviceCertificate(gateway), gatewaySeed)),
    ).rejects.toThrow();
  });

  test("an app certificate whose signature is flipped: refused at the handshake", async () => {
    const forged = appCertificate(gateway, notes);
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    await expect(fetchThrough("/", {}, presenting(forged, gatewaySeed))).rejects.toThrow();
  });

  test("a key the node does not take (not a member, not a gateway): a whole 403", async () => {
    const strangerSeed = new Uint8Array(32).fill(9);
    const stranger = signingKeyFromSeed(strangerSeed);
    const response = await fetchThrough(
      "/",
      {},
      presenting(appCertificate(stranger, notes), strangerSeed),
    );
    expect(response.status).toBe(403);
    expect(response.headers.get("connection")).toBe("close");
  });

  test("an app not run here: a whole 503", async () => {
    const photos = appCertificate(gateway, "photos" as AppName);
    const response = await fetchThrough("/", {}, presenting(photos, gatewaySeed));
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
      "E_UNAVAILABLE",
    );
  });
});

/** A response of the app's that stays open: its first chunk at once, the next one when asked. */
async function openResponse() {
  const response = await fetchThrough("/endless");
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("first");
  return reader;
}

describe("open connections follow the node", () => {
  test("a gateway no longer taken has its open connections closed", async () => {
    const reader = await openResponse();
    allowed.delete(gatewayId);
    try {
      changed();
      await expect(reader.read()).rejects.toThrow();
    } finally {
      allowed.add(gatewayId);
    }
  });

  test("an app that stops has its open connections closed", async () => {
    const reader = await openResponse();
    appRunning = false;
    try {
      changed();
      await expect(reader.read()).rejects.toThrow();
    } finally {
      appRunning = true;
    }
  });

  test("a change that leaves it admitted leaves it open", async () => {
    const reader = await openResponse();
    changed();
    sendNext();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("next");
    await reader.cancel();
  });
});

/**
 * A pipe to `door` that takes any key as a gateway of the zone, or none when `refused` (the
 * error it refuses with), with the limits given.
 */
function lonePipe(
  door: AppDoor,
  options: {
    refused?: BuckyError;
    idleTimeoutS?: number;
    connectionsPerGateway?: number;
    handshakeTimeoutS?: number;
  },
): AppPipe {
  const { refused, ...limits } = options;
  return listenAppPipe({
    hostname: "127.0.0.1",
    port: 0,
    cert: deviceCertPem,
    key: privateKeyPem(deviceSeed),
    rules: {
      admit: () => {
        if (refused) throw refused;
        return { door, gateway: "gw" };
      },
      isGateway: () => !refused,
      person: () => alice,
      onChange: () => () => {},
    },
    log: createLog({ level: "silent", write: () => {} }),
    ...limits,
  });
}

/**
 * A pipe with an idle limit of 1 s to `door`. Bun's own socket timeout counts only what a
 * socket reads: these fail with the sockets' timeout in its place.
 */
const idlePipe = (door: AppDoor) => lonePipe(door, { idleTimeoutS: 1 });

const tick = () => new Promise((resolve) => setTimeout(resolve, 250));

/** A body of `pieces` chunks of "x", one every 250 ms. */
function slowBody(pieces: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent === pieces) return controller.close();
      if (sent > 0) await tick();
      sent += 1;
      controller.enqueue(new TextEncoder().encode("x"));
    },
  });
}

/** Called when the app's endless answer is cancelled (its connection ended). */
let floodCancelled: () => void = () => {};
/** How many chunks of its endless answer the app has made: none more once the pipe stops reading it. */
let floodChunks = 0;

describe("the pipe's idle limit counts bytes moving either way", () => {
  let slow: AppPipe;
  let slowApp: ReturnType<typeof Bun.serve>;

  beforeAll(() => {
    const socket = join(scratch, "slow.sock");
    slowApp = Bun.serve({
      unix: socket,
      async fetch(request) {
        if (request.method === "POST") return new Response(String((await request.text()).length));
        // Held with nothing sent after the head: the pipe must give up on it.
        if (new URL(request.url).pathname === "/silent")
          return new Response(new ReadableStream({ start() {} }));
        if (new URL(request.url).pathname === "/flood")
          return new Response(
            new ReadableStream({
              pull: (controller) => {
                floodChunks += 1;
                controller.enqueue(new Uint8Array(64 * 1024));
              },
              cancel: () => floodCancelled(),
            }),
          );
        // Longer than Bun's socket timeout takes to fire (it ticks every 4 s).
        return new Response(slowBody(24));
      },
    });
    slow = idlePipe(socketDoor(notes, socket));
  });

  afterAll(() => {
    slow.stop();
    slowApp.stop(true);
  });

  const through = (path: string, init: RequestInit = {}) =>
    fetch(`https://127.0.0.1:${slow.port}${path}`, {
      ...init,
      tls: presenting(appCertificate(gateway, notes), gatewaySeed),
    } as RequestInit);

  /**
   * A gateway asking for the app's endless answer that reads its first bytes, then never
   * another: the device's buffers fill. `closed` settles when the pipe lets it go.
   */
  async function stalledReader() {
    const { cert, key } = presenting(appCertificate(gateway, notes), gatewaySeed);
    const closed = Promise.withResolvers<void>();
    const reader = { socket: undefined as unknown as Socket, read: 0, closed: closed.promise };
    reader.socket = await Bun.connect({
      hostname: "127.0.0.1",
      port: slow.port,
      tls: { cert, key, rejectUnauthorized: false },
      socket: {
        handshake: (socket) => void socket.write("GET /flood HTTP/1.1\r\nhost: notes\r\n\r\n"),
        data(socket, chunk) {
          reader.read += chunk.length;
          socket.pause();
        },
        close: () => closed.resolve(),
      },
    });
    return reader;
  }

  // Each its own request, a few seconds of bytes trickling: both at once.
  test.concurrent("a download longer than the limit arrives whole", async () => {
    const response = await through("/download");
    expect(await response.text()).toBe("x".repeat(24));
  });

  test.concurrent("an upload longer than the limit arrives whole", async () => {
    const response = await through("/upload", {
      method: "POST",
      body: slowBody(24),
      duplex: "half",
    } as RequestInit);
    expect(await response.text()).toBe("24");
  });

  test("a gateway that stops reading is let go, and the app's answer with it", async () => {
    const cancelled = new Promise<void>((resolve) => {
      floodCancelled = resolve;
    });
    const reader = await stalledReader();
    await Promise.all([reader.closed, cancelled]);
    expect(reader.read).toBeGreaterThan(0);
  });

  test("a connection the pipe ended with bytes still queued is let go when its gateway stops reading", async () => {
    const reader = await stalledReader();
    // The pipe stops reading the app only when a MiB waits for this gateway: until the app's
    // answer stops growing, it is not full yet. Checked more often than the idle limit.
    for (let before = -1; floodChunks !== before; await Bun.sleep(100)) before = floodChunks;
    // A head the pipe refuses: it ends the connection with the flood's MiB still queued.
    reader.socket.write(
      "POST / HTTP/1.1\r\nhost: notes\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
    );
    const outcome = await Promise.race([
      reader.closed.then(() => "let go"),
      Bun.sleep(8_000).then(() => "held"),
    ]);
    reader.socket.terminate();
    expect(reader.read).toBeGreaterThan(0);
    expect(outcome).toBe("let go");
  });

  test("an answer on which nothing moves is ended", async () => {
    // The app's server sends its head with the first chunk, so this ends before any.
    await expect(through("/silent").then((response) => response.text())).rejects.toThrow();
  });
});

/**
 * A raw TLS connection to `port` presenting an app certificate of `seed`'s key: resolved
 * once its handshake is done, with what it has been sent so far and when it closes.
 */
async function rawConnection(port: number, seed: Uint8Array) {
  const { cert, key } = presenting(appCertificate(signingKeyFromSeed(seed), notes), seed);
  const handshake = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  let heard = "";
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    tls: { cert, key, rejectUnauthorized: false },
    socket: {
      handshake: () => handshake.resolve(),
      data: (_socket, chunk) => {
        heard += new TextDecoder().decode(chunk);
      },
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  });
  await Promise.race([handshake.promise, closed.promise]);
  return {
    closed: closed.promise,
    /** Sends a request and gives all it was answered, once the connection closes. */
    async ask(): Promise<string> {
      socket.write("GET / HTTP/1.1\r\nhost: notes\r\nconnection: close\r\n\r\n");
      await closed.promise;
      return heard;
    },
    end: () => socket.terminate(),
  };
}

/** Seeds of `count` keys, each its own device. */
const seeds = (count: number, first: number) =>
  Array.from({ length: count }, (_, at) => new Uint8Array(32).fill(first + at));

describe("how many connections the pipe holds", () => {
  /** A pipe to the app of the first tests, with a cap of `connectionsPerGateway`. */
  const cappedPipe = (connectionsPerGateway: number, refused?: BuckyError) =>
    lonePipe(socketDoor(notes, join(scratch, "app.sock")), { connectionsPerGateway, refused });

  test("a gateway past its cap is refused by the pipe, so the request goes by the ingress", async () => {
    const capped = cappedPipe(2);
    const fetchCapped = (path: string, seed = gatewaySeed) =>
      fetch(`https://127.0.0.1:${capped.port}${path}`, {
        tls: presenting(appCertificate(signingKeyFromSeed(seed), notes), seed),
      } as RequestInit);
    try {
      const open = [await fetchCapped("/endless"), await fetchCapped("/endless")];
      const past = await fetchCapped("/third");
      expect(past.status).toBe(503);
      // The pipe's own refusal, not of the gateway: that request alone goes by the ingress.
      expect(past.headers.get(PIPE_REFUSAL_HEADER)).toBe(
        refusalProof(appCertificate(gateway, notes)),
      );
      expect(((await past.json()) as { error: { code: string } }).error.code).toBe("E_UNAVAILABLE");
      // Another gateway has a cap of its own.
      const other = await fetchCapped("/other", new Uint8Array(32).fill(3));
      expect(((await other.json()) as { path: string }).path).toBe("/other");
      // A connection let go makes room, once the pipe has heard it close.
      await open[0]?.body?.cancel();
      let after = await fetchCapped("/after");
      for (const deadline = Date.now() + 5_000; after.status === 503 && Date.now() < deadline; )
        after = await fetchCapped("/after");
      expect(((await after.json()) as { path: string }).path).toBe("/after");
      await open[1]?.body?.cancel();
    } finally {
      capped.stop();
    }
  });

  test("past the refusals that may wait, a gateway's connection ends at its handshake", async () => {
    const capped = cappedPipe(1);
    try {
      const started = await rawConnection(capped.port, gatewaySeed);
      const waiting = [];
      for (let at = 0; at < PIPE_REFUSALS_WAITING; at++)
        waiting.push(await rawConnection(capped.port, gatewaySeed));
      const past = await rawConnection(capped.port, gatewaySeed);
      await past.closed;
      // Those before it are still held, their refusal waiting for their request.
      expect(await waiting[0]?.ask()).toStartWith("HTTP/1.1 503 Service Unavailable");
      // Its one connection within the cap reaches the app.
      expect(await started.ask()).toContain('"path":"/"');
      for (const connection of waiting) connection.end();
    } finally {
      capped.stop();
    }
  });

  test("a gateway refused for an app not running here keeps its own allowance: strangers filling theirs do not end its connections", async () => {
    const stopped = listenAppPipe({
      hostname: "127.0.0.1",
      port: 0,
      cert: deviceCertPem,
      key: privateKeyPem(deviceSeed),
      rules: {
        admit: (from) => {
          if (from !== gatewayId) throw new BuckyError("E_PERMISSION", "not a gateway of the zone");
          throw new BuckyError("E_UNAVAILABLE", "notes is not running here");
        },
        isGateway: (from) => from === gatewayId,
        person: () => alice,
        onChange: () => () => {},
      },
      log: createLog({ level: "silent", write: () => {} }),
    });
    try {
      const strangers = [];
      for (const seed of seeds(PIPE_REFUSALS_WAITING, 100))
        strangers.push(await rawConnection(stopped.port, seed));
      // Answered with its refusal, which the gateway takes as this app's (the request goes by
      // the ingress); ended at its handshake, it would rest the pipe to every app here.
      const ofGateway = await rawConnection(stopped.port, gatewaySeed);
      expect(await ofGateway.ask()).toStartWith("HTTP/1.1 503 Service Unavailable");
      for (const connection of strangers) connection.end();
    } finally {
      stopped.stop();
    }
  });

  test("keys the node does not admit share one small allowance, whatever their number", async () => {
    const capped = cappedPipe(
      PIPE_CONNECTIONS_PER_GATEWAY,
      new BuckyError("E_PERMISSION", "not a gateway of the zone"),
    );
    try {
      const waiting = [];
      // Each its own key, as anyone can make: none gets a cap of its own.
      for (const seed of seeds(PIPE_REFUSALS_WAITING, 100))
        waiting.push(await rawConnection(capped.port, seed));
      const past = await rawConnection(capped.port, new Uint8Array(32).fill(200));
      await past.closed;
      expect(await waiting[0]?.ask()).toStartWith("HTTP/1.1 403 Forbidden");
      for (const connection of waiting) connection.end();
    } finally {
      capped.stop();
    }
  });
});

/**
 * A plain TCP connection to `port` that starts a TLS handshake and never finishes it:
 * `closed` settles when the pipe lets it go. With `tricklingMs`, it sends one more byte
 * of its first record that often, as a client keeping a socket's timeout from firing would.
 */
async function unfinishedHandshake(port: number, tricklingMs?: number) {
  const closed = Promise.withResolvers<void>();
  let trickle: ReturnType<typeof setInterval> | undefined;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      data() {},
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  });
  // A handshake record of 16 KiB, its body to come.
  socket.write(new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x00]));
  if (tricklingMs) trickle = setInterval(() => socket.write(new Uint8Array([0])), tricklingMs);
  const ended = closed.promise.then(() => clearInterval(trickle));
  return {
    closed: ended,
    end() {
      clearInterval(trickle);
      socket.terminate();
    },
  };
}

/** Whether `closed` settles within `ms`. */
const closedWithin = (closed: Promise<void>, ms: number) =>
  Promise.race([closed.then(() => "closed"), Bun.sleep(ms).then(() => "held")]);

describe("what a connection may hold before its handshake", () => {
  test("past the handshakes that may wait, a new connection ends at once, and a gateway gets in once they go", async () => {
    const lone = lonePipe(socketDoor(notes, join(scratch, "app.sock")), {});
    try {
      const waiting = [];
      for (let at = 0; at < PIPE_HANDSHAKES_WAITING; at++)
        waiting.push(await unfinishedHandshake(lone.port));
      const past = await unfinishedHandshake(lone.port);
      expect(await closedWithin(past.closed, 5_000)).toBe("closed");
      expect(await closedWithin(waiting[0]?.closed ?? Promise.resolve(), 0)).toBe("held");
      for (const connection of waiting) connection.end();
      await Promise.all(waiting.map((connection) => connection.closed));
      // The pipe hears them go a moment after their side did.
      let answer = "";
      for (const deadline = Date.now() + 5_000; Date.now() < deadline && !answer.includes("/"); )
        answer = await rawConnection(lone.port, gatewaySeed).then((gateway) => gateway.ask());
      expect(answer).toContain('"path":"/"');
    } finally {
      lone.stop();
    }
  });

  test("a handshake sent a byte at a time is ended at its own limit, shorter than the idle one", async () => {
    const lone = lonePipe(socketDoor(notes, join(scratch, "app.sock")), { handshakeTimeoutS: 1 });
    try {
      const trickling = await unfinishedHandshake(lone.port, 200);
      // Bun checks sockets' timeouts every 4 s: a limit of 1 s ends it within 8 s, the idle one (60 s) would not.
      expect(await closedWithin(trickling.closed, 15_000)).toBe("closed");
    } finally {
      lone.stop();
    }
  });
});

describe("an app that is not there: the ingress's 503, not a reset", () => {
  async function answerOf(door: AppDoor) {
    const lone = idlePipe(door);
    try {
      const response = await fetch(`https://127.0.0.1:${lone.port}/`, {
        tls: presenting(appCertificate(gateway, notes), gatewaySeed),
      } as RequestInit);
      return {
        status: response.status,
        // Not the pipe's refusal: the app may have had the request, which must not go again.
        refusal: response.headers.get(PIPE_REFUSAL_HEADER),
        code: ((await response.json()) as { error: { code: string } }).error.code,
      };
    } finally {
      lone.stop();
    }
  }

  test("a sandboxed app with no socket yet", async () => {
    expect(await answerOf(socketDoor(notes, join(scratch, "none.sock")))).toEqual({
      status: 503,
      refusal: null,
      code: "E_UNAVAILABLE",
    });
  });

  test("an app whose port refuses connections", async () => {
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    expect(await answerOf(portDoor(port))).toEqual({
      status: 503,
      refusal: null,
      code: "E_UNAVAILABLE",
    });
  });
});

describe("a connection the gateway has left", () => {
  test("is let go when the app takes nothing more of what the gateway sent", async () => {
    const socket = join(scratch, "deaf.sock");
    const appClosed = Promise.withResolvers<void>();
    let poke: ReturnType<typeof setInterval> | undefined;
    // An app that takes the connection and never reads from it. A socket that does not read
    // does not hear its connection closed either: it writes a byte now and then, which
    // fails once the pipe has let go.
    const deaf = Bun.listen({
      unix: socket,
      socket: {
        open(app) {
          app.pause();
          poke = setInterval(() => {
            if (app.write("x") < 0) appClosed.resolve();
          }, 100);
        },
        data() {},
        close: () => appClosed.resolve(),
        error: () => appClosed.resolve(),
      },
    });
    const lone = idlePipe(socketDoor(notes, socket));
    try {
      const { cert, key } = presenting(appCertificate(gateway, notes), gatewaySeed);
      const chunk = new Uint8Array(64 * 1024).fill(120);
      let written = 0;
      const upload = (gateway: Socket<unknown>) => {
        while (gateway.write(chunk) === chunk.length) written += chunk.length;
      };
      const gatewaySide = await Bun.connect({
        hostname: "127.0.0.1",
        port: lone.port,
        tls: { cert, key, rejectUnauthorized: false },
        socket: {
          handshake(gateway) {
            gateway.write(
              `POST /upload HTTP/1.1\r\nhost: notes\r\ncontent-length: ${16 * 1024 * 1024}\r\n\r\n`,
            );
            upload(gateway);
          },
          drain: upload,
          data() {},
        },
      });
      // The pipe stops reading the gateway only when a MiB waits for the app: until the
      // upload stops moving, it is not full yet. Checked more often than the idle limit.
      for (let before = -1; written !== before; await Bun.sleep(100)) before = written;
      gatewaySide.terminate();
      const outcome = await Promise.race([
        appClosed.promise.then(() => "let go"),
        Bun.sleep(8_000).then(() => "held"),
      ]);
      expect(outcome).toBe("let go");
    } finally {
      clearInterval(poke);
      lone.stop();
      deaf.stop(true);
    }
  });
});
