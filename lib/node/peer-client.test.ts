/**
 * How the client authenticates its calls: with a tag under the pair key to a peer whose
 * info says it takes request-auth v2, and signed to any other (a device of an older
 * version), so a zone of mixed versions keeps talking.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { PairKeys } from "../../protocol/pair-key.ts";
import { checkRequest, REQUEST_KEY_PURPOSE, UNSIGNED_BODY } from "../../protocol/request-auth.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { BuckyError } from "../errors.ts";
import { RequestKeys } from "../identity/request-keys.ts";
import {
  isUnreachable,
  MAX_PEER_ANSWER_BYTES,
  PeerAnswerError,
  PeerClient,
} from "./peer-client.ts";
import { MemoryContacts, type Peer } from "./peers.ts";

const clientSeed = new Uint8Array(32).fill(1);
const serverSeed = new Uint8Array(32).fill(2);
const clientKey = signingKeyFromSeed(clientSeed);
const serverKey = signingKeyFromSeed(serverSeed);
const clientId = deviceIdFromPublicKey(clientKey.publicKey);
const serverId = deviceIdFromPublicKey(serverKey.publicKey);
const serverPairs = new PairKeys(serverSeed, serverId);

/** What the server made of each request: how it was authenticated, and whether it checked. */
const seen: { scheme: string; ok: boolean }[] = [];
const certPem = certificatePem(deviceCertificate(serverKey));
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  tls: { cert: certPem, key: privateKeyPem(serverSeed) },
  async fetch(request) {
    const url = new URL(request.url);
    const refusal = REFUSALS[url.pathname];
    if (refusal) return new Response(refusal.body, { status: refusal.status });
    // As the peer API does: app traffic through the ingress streams, its body unsigned.
    const body = url.pathname.startsWith("/v1/ingress/")
      ? UNSIGNED_BODY
      : new Uint8Array(await request.arrayBuffer());
    const check = checkRequest(
      { method: request.method, path: url.pathname + url.search, audience: serverId, body },
      request.headers,
      Date.now(),
      (device) => serverPairs.key(device, serverId, REQUEST_KEY_PURPOSE),
    );
    seen.push({ scheme: request.headers.has("bucky-mac") ? "v2" : "v1", ok: check.ok });
    return new Response("ok");
  },
});
afterAll(() => server.stop(true));

/** How peers of each kind refuse a request: path → the answer. */
const REFUSALS: Record<string, { status: number; body: string }> = {
  "/too-large": {
    status: 413,
    body: '{"error":{"code":"E_TOO_LARGE","message":"a request\'s body is over 16777216 bytes, the most this takes"}}',
  },
  // A peer of a version before E_TOO_LARGE.
  "/too-large-older": {
    status: 400,
    body: '{"error":{"code":"E_USAGE","message":"request body over 16777216 bytes"}}',
  },
  // The runtime's own refusal, past the server's maxRequestBodySize: no body of bucky's.
  "/too-large-runtime": { status: 413, body: "" },
  // A newer peer's code, unknown here.
  "/newer": { status: 400, body: '{"error":{"code":"E_SOMETHING_NEW","message":"no"}}' },
  // No code at all, though every object has one of that name.
  "/inherited": { status: 400, body: '{"error":{"code":"constructor","message":"no"}}' },
  "/usage": {
    status: 400,
    body: '{"error":{"code":"E_USAGE","message":"the body must be {\\"to\\": \\"<device>\\"}"}}',
  },
  "/overloaded": { status: 503, body: "" },
  // A member's device answers as it likes: words of its own, a hint that would read as bucky's.
  "/lure": {
    status: 403,
    body: JSON.stringify({
      error: {
        code: "E_PERMISSION",
        message: "denied\nerror: the zone's owner key is damaged\u001b[2K",
        hint: "Run `bucky devices revoke nas` to repair it.",
      },
    }),
  },
  // This device's own state, never a peer's word: this device would take itself for
  // quarantined (its daemon waits that out) on a peer's say-so.
  "/quarantined": {
    status: 403,
    body: '{"error":{"code":"E_QUARANTINED","message":"you are quarantined"}}',
  },
  // Nor is E_REVOKED: its revocation is passed on for the daemon to check, its code not.
  "/revoked": {
    status: 403,
    body: '{"error":{"code":"E_REVOKED","message":"you are revoked in this zone","revocation":"a.b.c"}}',
  },
  "/long": {
    status: 400,
    body: JSON.stringify({ error: { code: "E_USAGE", message: "x".repeat(100_000) } }),
  },
};

const peer: Peer = {
  id: serverId,
  name: "server",
  addresses: [`https://127.0.0.1:${server.port}`],
  certPem,
};
const withKeys = new PeerClient(
  clientKey,
  new MemoryContacts(),
  Date.now,
  undefined,
  new RequestKeys(new PairKeys(clientSeed, clientId)),
);

async function schemeOf(client: PeerClient, to: Peer): Promise<{ scheme: string; ok: boolean }> {
  seen.length = 0;
  await client.post(to, "/v1/sync/push?x=1", new Uint8Array([1, 2, 3]));
  return seen[0] as { scheme: string; ok: boolean };
}

describe("PeerClient's request authentication", () => {
  test("tags its requests to a peer that takes v2", async () => {
    expect(await schemeOf(withKeys, { ...peer, requestAuth: 2 })).toEqual({
      scheme: "v2",
      ok: true,
    });
  });

  test("signs them to a peer that did not say so (an older version)", async () => {
    expect(await schemeOf(withKeys, peer)).toEqual({ scheme: "v1", ok: true });
  });

  test("signs them when it holds no pair keys (a one-off command)", async () => {
    const plain = new PeerClient(clientKey, new MemoryContacts(), Date.now);
    expect(await schemeOf(plain, { ...peer, requestAuth: 2 })).toEqual({ scheme: "v1", ok: true });
  });

  test("tags what it forwards, its body unsigned as before", async () => {
    seen.length = 0;
    const response = await withKeys.forward({ ...peer, requestAuth: 2 }, "/v1/ingress/app/x", {
      method: "GET",
      headers: new Headers(),
      body: null,
      signal: AbortSignal.timeout(5_000),
    });
    expect(await response.text()).toBe("ok");
    expect(seen).toEqual([{ scheme: "v2", ok: true }]);
  });
});

describe("PeerClient's reading of a peer's refusal", () => {
  test("a body over the peer's bound is E_TOO_LARGE however the peer says so, and no refusal is a peer that is unavailable", async () => {
    const answers = await Promise.all(
      Object.keys(REFUSALS).map(async (path) => {
        const error = await withKeys.post(peer, path, new Uint8Array([1])).catch((e) => e);
        if (!(error instanceof BuckyError)) throw error;
        // A peer's hint is its words, in the message: never shown as bucky's advice.
        expect([path, error.hint]).toEqual([path, undefined]);
        return [path, error.code, isUnreachable(error), error.message];
      }),
    );
    expect(answers).toEqual([
      [
        "/too-large",
        "E_TOO_LARGE",
        false,
        'server refused: "a request\'s body is over 16777216 bytes, the most this takes"',
      ],
      [
        "/too-large-older",
        "E_TOO_LARGE",
        false,
        'server refused: "request body over 16777216 bytes"',
      ],
      ["/too-large-runtime", "E_TOO_LARGE", false, "server answered HTTP 413"],
      ["/newer", "E_USAGE", false, 'server refused: "no"'],
      ["/inherited", "E_USAGE", false, 'server refused: "no"'],
      ["/usage", "E_USAGE", false, 'server refused: "the body must be {\\"to\\": \\"<device>\\"}"'],
      // A server's failure passes: tried again later, as before.
      ["/overloaded", "E_UNAVAILABLE", false, "server answered HTTP 503"],
      [
        "/lure",
        "E_PERMISSION",
        false,
        'server refused: "denied\\nerror: the zone\'s owner key is damaged\\u001b[2K", and says "Run `bucky devices revoke nas` to repair it."',
      ],
      ["/quarantined", "E_PERMISSION", false, 'server refused: "you are quarantined"'],
      ["/revoked", "E_PERMISSION", false, 'server refused: "you are revoked in this zone"'],
      ["/long", "E_USAGE", false, `server refused: "${"x".repeat(1000)}…"`],
    ]);
  });
});

test("a refusal carrying a revocation passes it on, unchecked, for the daemon to check", async () => {
  const error = await withKeys.post(peer, "/revoked", new Uint8Array([1])).catch((e) => e);
  expect(error).toBeInstanceOf(PeerAnswerError);
  expect((error as PeerAnswerError).revocation).toBe("a.b.c");
});

test("a refusal is read as the peer's words, never into the buffer the caller gave for its answer", async () => {
  const into = new Uint8Array(4096);
  const error = await withKeys.get(peer, "/usage", undefined, undefined, into).catch((e) => e);
  expect([error.code, error.message]).toEqual([
    "E_USAGE",
    'server refused: "the body must be {\\"to\\": \\"<device>\\"}"',
  ]);
  expect(into.every((byte) => byte === 0)).toBe(true);
});

describe("a peer's redirect", () => {
  test("is not followed: the request and its body go to the peer only, and the answer is no success", async () => {
    // What a member's device could point this one at: a service only it can reach.
    const elsewhere: string[] = [];
    const inside = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        elsewhere.push(
          `${request.method} ${new URL(request.url).pathname} ${await request.text()}`,
        );
        return new Response("the service's answer");
      },
    });
    const redirecting = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: certPem, key: privateKeyPem(serverSeed) },
      fetch: () =>
        new Response(null, {
          status: 307,
          headers: { location: `http://127.0.0.1:${inside.port}/internal` },
        }),
    });
    try {
      const to = { ...peer, addresses: [`https://127.0.0.1:${redirecting.port}`] };
      const posted = await withKeys
        .post(to, "/v1/sync/push", new TextEncoder().encode("zone state"))
        .then((bytes) => new TextDecoder().decode(bytes))
        .catch((error: BuckyError) => error.code);
      const got = await withKeys
        .get(to, "/v1/apps/notes/logs")
        .then((bytes) => (bytes ? new TextDecoder().decode(bytes) : bytes))
        .catch((error: BuckyError) => error.code);
      expect({ posted, got, elsewhere }).toEqual({
        posted: "E_UNAVAILABLE",
        got: "E_UNAVAILABLE",
        elsewhere: [],
      });
    } finally {
      redirecting.stop(true);
      inside.stop(true);
    }
  });
});

describe("a peer's answer", () => {
  // What a member's device could answer, or a network that fails half-way.
  let bomb: Uint8Array | undefined;
  /** The user agent of the last request for /sized. */
  let sizedAskedBy: string | null | undefined;
  /** What lets /held send its next chunk (true: its last). */
  const heldChunks: ((last: boolean) => void)[] = [];
  const answering = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certPem, key: privateKeyPem(serverSeed) },
    async fetch(request) {
      const path = new URL(request.url).pathname;
      // A peer on the far side of a slow link: a large body reaches it long after it went.
      if (path === "/far") {
        await request.arrayBuffer();
        await Bun.sleep(800);
        return new Response("took it");
      }
      // 640 KiB, 64 KiB every 100 ms: twice the 500 ms the test gives, but coming. Sent
      // chunked, as Bun.serve sends any stream.
      if (path === "/slow") {
        let sentSlowly = 0;
        return new Response(
          new ReadableStream({
            async pull(controller) {
              if (sentSlowly === 10) return controller.close();
              if (sentSlowly > 0) await Bun.sleep(100);
              sentSlowly += 1;
              controller.enqueue(new Uint8Array(64 * 1024).fill(sentSlowly));
            },
          }),
        );
      }
      // 640 KiB of known length, as a chunk is answered; who asked is kept (fetch names itself).
      if (path === "/sized") {
        sizedAskedBy = request.headers.get("user-agent");
        return new Response(new Uint8Array(640 * 1024).fill(7));
      }
      // 1 KiB every 100 ms: it never stops, but never brings 16 KiB in 300 ms either.
      if (path === "/trickles")
        return new Response(
          new ReadableStream({
            async pull(controller) {
              await Bun.sleep(100);
              controller.enqueue(new Uint8Array(1024));
            },
          }),
        );
      // A chunk each time the test lets one go, then the end.
      if (path === "/held")
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new Uint8Array(1024));
            },
            async pull(controller) {
              const last = await new Promise<boolean>((resolve) => heldChunks.push(resolve));
              controller.enqueue(new Uint8Array(1024));
              if (last) controller.close();
            },
          }),
        );
      if (path === "/stalls")
        return new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new Uint8Array(10));
            },
          }),
        );
      // A few hundred kilobytes on the wire, past the bound once inflated.
      bomb ??= Bun.gzipSync(new Uint8Array(MAX_PEER_ANSWER_BYTES + 1));
      return new Response(bomb, { headers: { "content-encoding": "gzip" } });
    },
  });
  afterAll(() => answering.stop(true));
  const to = { ...peer, addresses: [`https://127.0.0.1:${answering.port}`] };
  const outcome = (answer: Promise<Uint8Array | undefined>) =>
    answer.then(
      (bytes) => `${bytes?.length} bytes`,
      (error: Error) =>
        error instanceof BuckyError
          ? `${error.code}: ${error.message}`
          : `${error.name}: ${error.message}`,
    );

  test("that breaks off is the peer unavailable, not a failure of this device's own (the daemon's sync took it for a bug)", async () => {
    expect(await outcome(withKeys.post(to, "/stalls", new Uint8Array(1), { timeoutMs: 300 }))).toBe(
      "E_UNAVAILABLE: server did not send its whole answer (no answer in time)",
    );
  });

  test("that takes longer than the time given, but keeps coming, is read whole (a slow uplink)", async () => {
    const bytes = await withKeys.post(to, "/slow", new Uint8Array(1), { timeoutMs: 500 });
    expect(bytes.length).toBe(640 * 1024);
    expect([bytes[0], bytes[64 * 1024], bytes[640 * 1024 - 1]]).toEqual([1, 2, 10]);
  });

  test("that comes slowly is no slow round trip: the time to its head is what the contact keeps", async () => {
    const contacts = new MemoryContacts();
    const own = new PeerClient(clientKey, contacts, Date.now);
    const startMs = performance.now();
    await own.post(to, "/slow", new Uint8Array(1), { timeoutMs: 2_000 });
    const tookMs = performance.now() - startMs;
    // The body took 900 ms after the head, which came with the first chunk.
    expect(tookMs).toBeGreaterThan(850);
    expect(contacts.get(to.id)?.rttMs).toBeLessThan(tookMs - 600);
  });

  test("counts as hearing the peer only for a while after its head: bytes a dead peer sent, arriving late and slowly, do not keep it alive", async () => {
    const heardForMs = 6_000;
    const headAtMs = 1_000_000;
    let nowMs = headAtMs;
    const heard: number[] = [];
    let onHeard = () => {};
    const contacts = new (class extends MemoryContacts {
      override heardFrom(id: DeviceId, atMs: number): void {
        super.heardFrom(id, atMs);
        heard.push(atMs);
        onHeard();
      }
    })();
    const heardAt = (atMs: number) =>
      new Promise<void>((resolve) => {
        onHeard = () => {
          if (heard.includes(atMs)) resolve();
        };
        onHeard();
      });
    const letGo = async (last: boolean) => {
      while (heldChunks.length === 0) await Bun.sleep(1);
      heldChunks.shift()?.(last);
    };
    const own = new PeerClient(clientKey, contacts, () => nowMs, undefined, undefined, heardForMs);
    const answer = own.post(to, "/held", new Uint8Array(1), { timeoutMs: 10_000 });
    await heardAt(headAtMs);
    // Just inside the time after the head: a chunk is the peer heard from.
    nowMs = headAtMs + heardForMs - 1;
    await letGo(false);
    await heardAt(nowMs);
    // Past it: the answer is still read whole, but its chunks, and its end, hear nothing.
    nowMs = headAtMs + heardForMs + 60_000;
    await letGo(true);
    expect((await answer).length).toBe(3 * 1024);
    expect(contacts.get(to.id)?.lastSeenAt).toBe(headAtMs + heardForMs - 1);
    expect(heard.filter((atMs) => atMs > headAtMs + heardForMs)).toEqual([]);
  });

  test("to a large body is given time for the body too (a slow uplink), to a small one not", async () => {
    // 640 KiB: 20 s more at the least speed given, against an answer 800 ms late.
    const large = withKeys.post(to, "/far", new Uint8Array(640 * 1024), { timeoutMs: 300 });
    expect(new TextDecoder().decode(await large)).toBe("took it");
    // A client of its own: the one the other tests share would take the address for dead.
    const own = new PeerClient(clientKey, new MemoryContacts(), Date.now);
    expect(await outcome(own.post(to, "/far", new Uint8Array(1), { timeoutMs: 300 }))).toBe(
      `E_UNAVAILABLE: server is not answering at https://127.0.0.1:${answering.port} (no answer in time)`,
    );
  });

  test("that trickles in, a little at a time, is given up on as one that stops", async () => {
    expect(
      await outcome(withKeys.post(to, "/trickles", new Uint8Array(1), { timeoutMs: 300 })),
    ).toBe("E_UNAVAILABLE: server did not send its whole answer (no answer in time)");
  });

  test("of known length is read into the caller's buffer when it gives one, by a connection of its own", async () => {
    const into = new Uint8Array(640 * 1024);
    const bytes = (await withKeys.get(to, "/sized", 2_000, undefined, into)) as Uint8Array;
    expect(bytes.buffer).toBe(into.buffer);
    expect(bytes.length).toBe(640 * 1024);
    expect(bytes.every((byte) => byte === 7)).toBe(true);
    // Not by fetch (lib/node/bulk-get.ts), which sends a User-Agent.
    expect(sizedAskedBy).toBeNull();
  });

  test("of known length that trickles is given up on, its connection ended, nothing more put in the buffer", async () => {
    // Bun.serve frames a streamed body by chunks: a socket of the peer's certificate says
    // its length, then trickles 1 KiB every 100 ms, far below 16 KiB in 300 ms.
    const asked = Promise.withResolvers<void>();
    const ended = Promise.withResolvers<void>();
    const trickling = Bun.listen<{ trickle?: ReturnType<typeof setInterval> }>({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: certPem, key: privateKeyPem(serverSeed) },
      socket: {
        open: (socket) => {
          socket.data = {};
        },
        data: (socket) => {
          if (socket.data.trickle) return;
          socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${640 * 1024}\r\n\r\n`);
          socket.data.trickle = setInterval(() => socket.write(new Uint8Array(1024).fill(9)), 100);
          asked.resolve();
        },
        close: (socket) => {
          // Not the reachability probe's: the one that was asked.
          if (!socket.data.trickle) return;
          clearInterval(socket.data.trickle);
          ended.resolve();
        },
      },
    });
    try {
      const into = new Uint8Array(640 * 1024);
      const sized = { ...peer, addresses: [`https://127.0.0.1:${trickling.port}`] };
      expect(await outcome(withKeys.get(sized, "/trickles", 300, undefined, into))).toBe(
        "E_UNAVAILABLE: server did not send its whole answer (no answer in time)",
      );
      await asked.promise;
      const filled = into.lastIndexOf(9) + 1;
      expect(filled).toBeLessThan(16 * 1024);
      // Ended by this side (the peer would trickle on): no byte of it can come any more.
      const heard = await Promise.race([ended.promise.then(() => true), Bun.sleep(5_000)]);
      expect(heard).toBe(true);
      // What came before the failure, and nothing after: the caller may reuse the buffer.
      expect(into.lastIndexOf(9) + 1).toBe(filled);
    } finally {
      trickling.stop(true);
    }
  });

  test("is read into the caller's buffer when it gives one, whole, a piece at a time", async () => {
    const into = new Uint8Array(640 * 1024);
    const bytes = (await withKeys.get(to, "/slow", 2_000, undefined, into)) as Uint8Array;
    expect(bytes.buffer).toBe(into.buffer);
    expect(bytes.length).toBe(640 * 1024);
    expect([into[0], into[64 * 1024], into[640 * 1024 - 1]]).toEqual([1, 2, 10]);
  });

  test("longer than the caller's buffer is wrong bytes, refused, not read past it", async () => {
    expect(await outcome(withKeys.get(to, "/slow", 2_000, undefined, new Uint8Array(1000)))).toBe(
      "E_INTEGRITY: server answered with more than the 1000 bytes asked for",
    );
  });

  test("is read within a bound, however it is compressed: a small gzip answer does not fill this device's memory", async () => {
    expect(await outcome(withKeys.get(to, "/bomb"))).toBe(
      `E_UNAVAILABLE: server answered with more than ${MAX_PEER_ANSWER_BYTES} bytes, the most a peer's answer takes`,
    );
  });
});

describe("a POST whose first route failed", () => {
  // The first address takes each request and never answers (the answer lost on the way);
  // the second answers and counts what it took.
  const swallowing = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certPem, key: privateKeyPem(serverSeed) },
    fetch: () => new Promise<Response>(() => {}),
  });
  let taken = 0;
  const answering = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certPem, key: privateKeyPem(serverSeed) },
    fetch() {
      taken += 1;
      return new Response("ok");
    },
  });
  afterAll(() => {
    swallowing.stop(true);
    answering.stop(true);
  });
  const to: Peer = {
    ...peer,
    addresses: [`https://127.0.0.1:${swallowing.port}`, `https://127.0.0.1:${answering.port}`],
  };

  test("is not sent by the next once it may have reached the device: it would be acted on twice", async () => {
    taken = 0;
    const client = new PeerClient(clientKey, new MemoryContacts(), Date.now);
    const error = await client
      .post(to, "/v1/backup/targets/t", new Uint8Array([1]), { timeoutMs: 300 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuckyError);
    expect((error as BuckyError).message).toContain("no answer in time");
    expect(taken).toBe(0);
  });

  test("is, when its caller says acting on it twice does no harm", async () => {
    taken = 0;
    const client = new PeerClient(clientKey, new MemoryContacts(), Date.now);
    const answer = await client.post(to, "/v1/sync/push", new Uint8Array([1]), {
      timeoutMs: 300,
      repeatable: true,
    });
    expect(new TextDecoder().decode(answer)).toBe("ok");
    expect(taken).toBe(1);
  });
});
