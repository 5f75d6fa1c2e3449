import { describe, expect, test } from "bun:test";
import type { ServerWebSocket, Socket, WebSocketHandler } from "bun";
import {
  answerReadWhole,
  type BridgeData,
  bridgeData,
  forwardedHeaders,
  isBuckyHeader,
  READ_WHOLE_BYTES,
  returnedResponse,
  websocketBridge,
} from "./forward.ts";
import { SILENCE_PROBE_AFTER_MS } from "./silence-watch.ts";

describe("what an app receives", () => {
  test("no bucky header from a client, however it is spelled", () => {
    const incoming = new Headers([
      ["Bucky-User", "owner"],
      ["bucky_user", "owner"],
      ["BUCKY_USER_ROLE", "admin"],
      ["Bucky-App-User", "x"],
      ["x-bucky-user", "kept: not ours"],
      ["cookie", "bucky_session=secret; theme=dark; bucky_notice=done; =bucky_session=bare"],
    ]);
    const forwarded = forwardedHeaders(incoming, { "x-forwarded-for": "1.2.3.4" });
    expect(Object.fromEntries(forwarded)).toEqual({
      "x-bucky-user": "kept: not ours",
      cookie: "theme=dark",
      "x-forwarded-for": "1.2.3.4",
    });
  });

  test("bucky's own names", () => {
    for (const name of ["bucky-user", "Bucky_User", "bucky_-x", "bucky-"])
      expect([name, isBuckyHeader(name)]).toEqual([name, true]);
    for (const name of ["buckyuser", "x-bucky-user", "bucky"])
      expect([name, isBuckyHeader(name)]).toEqual([name, false]);
  });
});

describe("what a client receives", () => {
  test("the app's response without hop-by-hop headers, passed on as it came when it can be", async () => {
    const app = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response("hello", {
          status: 201,
          headers: { "keep-alive": "timeout=5", "proxy-authenticate": "Basic", "x-app": "1" },
        }),
    });
    try {
      const fetched = await fetch(`http://127.0.0.1:${app.port}/`);
      const returned = returnedResponse(fetched);
      expect(returned).toBe(fetched);
      expect(returned.status).toBe(201);
      expect(returned.headers.get("x-app")).toBe("1");
      expect(returned.headers.get("content-length")).toBe("5");
      expect(returned.headers.has("keep-alive")).toBe(false);
      expect(returned.headers.has("proxy-authenticate")).toBe(false);
      expect(await returned.text()).toBe("hello");
    } finally {
      app.stop(true);
    }
  });

  test("an answer read whole: its bytes, with the app's status and headers less hop-by-hop ones", async () => {
    const app = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () =>
        new Response("hello", {
          status: 201,
          headers: { "keep-alive": "timeout=5", "x-app": "1" },
        }),
    });
    try {
      const fetched = await fetch(`http://127.0.0.1:${app.port}/`);
      const returned = returnedResponse(fetched, await fetched.bytes());
      expect([returned.status, returned.statusText]).toEqual([201, "Created"]);
      expect(returned.headers.get("x-app")).toBe("1");
      expect(returned.headers.has("keep-alive")).toBe(false);
      expect(await returned.text()).toBe("hello");
    } finally {
      app.stop(true);
    }
  });

  test("no cookie of bucky's own that an app sets, nor a clearing of the site, reaches the client, whichever way its answer goes", async () => {
    const app = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: () => {
        const headers = new Headers({ "x-app": "1" });
        headers.append("set-cookie", "theme=dark; Path=/");
        // Planted for the zone's whole domain, sent before the person's own session.
        headers.append("set-cookie", "bucky_session=planted; Domain=zone.test; Path=/_bucky");
        headers.append("set-cookie", " bucky_notice=x");
        headers.append("set-cookie", "=bucky_session=nameless; Domain=zone.test");
        headers.append("set-cookie", "lang=en");
        // Would clear the cookies of the whole site, the panel's among them.
        headers.append("clear-site-data", '"cookies"');
        return new Response("hello", { headers });
      },
    });
    try {
      const asPassedOn = returnedResponse(await fetch(`http://127.0.0.1:${app.port}/`));
      const fetched = await fetch(`http://127.0.0.1:${app.port}/`);
      const readWhole = returnedResponse(fetched, await fetched.bytes());
      const streamed = await fetch(`http://127.0.0.1:${app.port}/`);
      const copied = returnedResponse(streamed, streamed.body, true);
      for (const returned of [asPassedOn, readWhole, copied]) {
        expect(returned.headers.getSetCookie()).toEqual(["theme=dark; Path=/", "lang=en"]);
        expect(returned.headers.get("x-app")).toBe("1");
        expect(returned.headers.has("clear-site-data")).toBe(false);
      }
    } finally {
      app.stop(true);
    }
  });

  test("a response whose headers cannot change is copied without them", async () => {
    const original = Response.redirect("http://example.test/", 302);
    const immutable = new Proxy(original.headers, {
      get(target, name) {
        if (name === "delete")
          return () => {
            throw new TypeError("immutable");
          };
        const value = Reflect.get(target, name);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const fetched = new Proxy(original, {
      get: (target, name) => (name === "headers" ? immutable : Reflect.get(target, name)),
    });
    original.headers.set("keep-alive", "timeout=5");
    const returned = returnedResponse(fetched);
    expect(returned).not.toBe(fetched);
    expect(returned.status).toBe(302);
    expect(returned.headers.get("location")).toBe("http://example.test/");
    expect(returned.headers.has("keep-alive")).toBe(false);
  });

  test("an answer is read whole when it declares a body of at most READ_WHOLE_BYTES, and only then", () => {
    const answer = (status: number, length?: number) =>
      new Response(null, {
        status,
        headers: length === undefined ? {} : { "content-length": String(length) },
      });
    const cases: [string, number, number | undefined, boolean][] = [
      ["GET", 200, 0, true],
      ["GET", 200, READ_WHOLE_BYTES, true],
      ["POST", 404, 1000, true],
      ["GET", 200, READ_WHOLE_BYTES + 1, false],
      ["GET", 200, undefined, false],
      ["HEAD", 200, 1000, false],
      ["GET", 304, 1000, false],
      ["GET", 204, 0, false],
    ];
    for (const [method, status, length, read] of cases)
      expect([method, status, length, answerReadWhole(method, answer(status, length))]).toEqual([
        method,
        status,
        length,
        read,
      ]);
  });
});

describe("a bridged WebSocket whose app does not take the connection", () => {
  /** A gateway bridging to an app that takes the TCP connection and never answers. */
  async function closeOf(options: Parameters<typeof bridgeData>[1]) {
    const mute = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: { data() {} },
    });
    const gateway = Bun.serve<BridgeData>({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request, server) =>
        server.upgrade(request, {
          data: bridgeData(`ws://127.0.0.1:${mute.port}/`, options),
        })
          ? undefined
          : new Response("no", { status: 400 }),
      websocket: websocketBridge,
    });
    try {
      const startMs = performance.now();
      const socket = new WebSocket(`ws://127.0.0.1:${gateway.port}/`);
      const closed = await new Promise<{ code: number; reason: string }>((resolve) => {
        socket.onclose = (event) => resolve({ code: event.code, reason: event.reason });
      });
      return { ...closed, afterMs: performance.now() - startMs };
    } finally {
      gateway.stop(true);
      mute.stop(true);
    }
  }

  test("the client is closed (1011) once the connect's time ran out", async () => {
    const closed = await closeOf({ connectTimeoutMs: 300 });
    expect({ code: closed.code, reason: closed.reason }).toEqual({
      code: 1011,
      reason: "the app did not take the connection in time",
    });
    expect(closed.afterMs).toBeLessThan(3_000);
  });

  test("the client is closed (1011) once its device takes no connection, well before its time", async () => {
    const asked: string[] = [];
    const closed = await closeOf({
      connectTimeoutMs: 20_000,
      silence: {
        address: "https://10.0.0.1:4431",
        answers: async (address, fresh) => {
          asked.push(`${address}${fresh ? " (fresh)" : ""}`);
          return false;
        },
      },
    });
    // Silent only once a connect of its own, right after, does not open either.
    expect({ code: closed.code, reason: closed.reason, asked }).toEqual({
      code: 1011,
      reason: "the app's device did not answer",
      asked: ["https://10.0.0.1:4431", "https://10.0.0.1:4431 (fresh)"],
    });
    expect(closed.afterMs).toBeLessThan(SILENCE_PROBE_AFTER_MS + 3_000);
  });
});

/** Resolves once `condition` holds, checked every 10 ms; fails saying `what` after `timeoutMs`. */
async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** A gateway bridging every WebSocket to `url`, and the bridges it made, to look into. */
function bridgingGateway(url: string) {
  const bridges: { client: ServerWebSocket<BridgeData> }[] = [];
  const handlers = websocketBridge as Required<WebSocketHandler<BridgeData>>;
  const server = Bun.serve<BridgeData>({
    port: 0,
    hostname: "127.0.0.1",
    fetch: (request, srv) =>
      srv.upgrade(request, { data: bridgeData(url, {}) })
        ? undefined
        : new Response("no", { status: 400 }),
    websocket: {
      ...handlers,
      open(client) {
        bridges.push({ client });
        handlers.open(client);
      },
    },
  });
  return { server, bridges };
}

describe("a bridged WebSocket whose one end is slower than the other", () => {
  const MiB = 1024 * 1024;
  const MESSAGES = 64;

  test("a client sending faster than its app reads is held back, and the app gets every byte once it reads", async () => {
    // The app takes the handshake, then reads nothing until told: a raw socket, paused.
    let appSocket: Socket<undefined> | undefined;
    let received = 0;
    const app = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        data(socket, chunk) {
          if (appSocket) {
            received += chunk.length;
            return;
          }
          appSocket = socket;
          const key = /sec-websocket-key: (.*)\r\n/i.exec(
            Buffer.from(chunk).toString("latin1"),
          )?.[1];
          const accept = new Bun.CryptoHasher("sha1")
            .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
            .digest("base64");
          socket.write(
            `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
          );
          socket.pause();
        },
      },
    });
    const { server, bridges } = bridgingGateway(`ws://127.0.0.1:${app.port}/`);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    try {
      await new Promise((resolve) => {
        client.onopen = resolve;
      });
      for (let i = 0; i < MESSAGES; i++) client.send(new Uint8Array(MiB).fill(i));
      // Held back: what the client sends waits on its own side, not in the gateway's memory.
      // Watched for two seconds of the client sending into an app that reads nothing.
      let held = 0;
      const watchUntil = performance.now() + 2_000;
      while (performance.now() < watchUntil && client.bufferedAmount > 0) {
        held = Math.max(held, bridges[0]?.client.data.backend?.bufferedAmount ?? 0);
        await Bun.sleep(10);
      }
      expect(held).toBeLessThanOrEqual(2 * MiB);
      appSocket?.resume();
      // Each masked message of 1 MiB comes with a frame head of 14 bytes.
      const all = MESSAGES * (MiB + 14);
      await until("the app to receive every byte", () => received >= all).catch(() => {});
      expect(received).toBe(all);
    } finally {
      client.close();
      server.stop(true);
      app.stop(true);
    }
  });

  test("an app sending faster than its client reads loses no message: the app is held back", async () => {
    let sent = 0;
    const app = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (request, srv) => (srv.upgrade(request) ? undefined : new Response("no")),
      websocket: {
        // Its own side keeps all it sends, whatever the gateway takes.
        backpressureLimit: 256 * MiB,
        open(ws) {
          for (let i = 0; i < MESSAGES; i++) {
            ws.send(new Uint8Array(MiB).fill(i));
            sent += 1;
          }
        },
        message() {},
      },
    });
    const { server } = bridgingGateway(`ws://127.0.0.1:${app.port}/`);
    const client = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    client.binaryType = "arraybuffer";
    const got: number[] = [];
    client.onmessage = (event) => {
      const bytes = new Uint8Array(event.data as ArrayBuffer);
      got.push(
        bytes.length === MiB && bytes.every((b) => b === bytes[0]) ? (bytes[0] as number) : -1,
      );
    };
    try {
      await new Promise((resolve) => {
        client.onopen = resolve;
      });
      // A client that takes nothing for two seconds (a phone on a slow link, say).
      client.pause();
      await until("the app to send", () => sent === MESSAGES);
      await Bun.sleep(2_000);
      client.resume();
      await until(
        "every message, or the connection's end",
        () => got.length === MESSAGES || client.readyState !== WebSocket.OPEN,
      ).catch(() => {});
      expect(got).toEqual([...Array(MESSAGES).keys()]);
    } finally {
      client.close();
      server.stop(true);
      app.stop(true);
    }
  });
});
