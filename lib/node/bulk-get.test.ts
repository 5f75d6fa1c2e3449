import { afterEach, expect, test } from "bun:test";
import type { Socket } from "bun";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { certificatePem, deviceCertificate, privateKeyPem } from "../../protocol/tls-cert.ts";
import { type BulkAnswer, BulkGet, type BulkTarget, NotTaken, TooLarge } from "./bulk-get.ts";

const seed = new Uint8Array(32).fill(5);
const certPem = certificatePem(deviceCertificate(signingKeyFromSeed(seed)));
const otherCertPem = certificatePem(
  deviceCertificate(signingKeyFromSeed(new Uint8Array(32).fill(6))),
);

/** What the peer answers a request for `path` with: the bytes, each written apart. */
type Answer = (path: string, socket: Socket<Seen>) => (string | Uint8Array)[] | "silence";
type Seen = { request: string };

/** A TLS peer that writes exactly what `answer` says, counting its connections and what they sent. */
function peer(answer: Answer) {
  const seen = { connections: 0, closed: 0, bytes: 0, heads: [] as string[] };
  const listener = Bun.listen<Seen>({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: certPem, key: privateKeyPem(seed) },
    socket: {
      open(socket) {
        seen.connections += 1;
        socket.data = { request: "" };
      },
      data(socket, chunk) {
        seen.bytes += chunk.length;
        socket.data.request += new TextDecoder().decode(chunk);
        const end = socket.data.request.indexOf("\r\n\r\n");
        if (end < 0) return;
        const path = socket.data.request.split(" ")[1] as string;
        seen.heads.push(socket.data.request.slice(0, end));
        socket.data.request = socket.data.request.slice(end + 4);
        const parts = answer(path, socket);
        if (parts === "silence") return;
        for (const part of parts) socket.write(part);
      },
      close() {
        seen.closed += 1;
      },
    },
  });
  const target: BulkTarget = { hostname: "127.0.0.1", port: listener.port, certPem };
  return { seen, target, stop: () => listener.stop(true) };
}

/** A success of `body` (ASCII when a string), with `extra` header lines. */
const ok = (body: Uint8Array | string, extra = "") => [
  `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n`,
  body,
];

const peers: { stop(): void }[] = [];
const clients: BulkGet[] = [];
function setUp(answer: Answer, keptIdleS?: number) {
  const made = peer(answer);
  const client = new BulkGet(keptIdleS);
  peers.push(made);
  clients.push(client);
  return { ...made, client };
}
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const made of peers.splice(0)) made.stop();
});

const never = () => new AbortController().signal;

test("an answer goes into the caller's buffer, the connection kept for the next", async () => {
  const body = new Uint8Array(300 * 1024).map((_, at) => at % 251);
  const { client, target, seen } = setUp(() => ok(body));
  const into = new Uint8Array(512 * 1024);
  for (let round = 0; round < 3; round++) {
    into.fill(0);
    const answer = await client.get(target, "/chunk", { "x-tag": "t" }, into, never());
    expect([answer.status, answer.ok]).toEqual([200, true]);
    let moved = 0;
    const bytes = await answer.read((n) => {
      moved += n;
    });
    expect(bytes.buffer).toBe(into.buffer);
    expect(bytes).toEqual(body);
    // Every byte told, those that came with the head too.
    expect(moved).toBe(body.length);
  }
  expect(seen.connections).toBe(1);
});

test("the head in single bytes, and the body after it in pieces", async () => {
  const head = "HTTP/1.1 200 OK\r\ncontent-type: x\r\ncontent-length: 10\r\n\r\n";
  const { client, target } = setUp(() => [...head.split(""), "01234", "5", "6789"]);
  const answer = await client.get(target, "/", {}, new Uint8Array(10), never());
  expect(new TextDecoder().decode(await answer.read(() => {}))).toBe("0123456789");
});

test("the request carries the caller's headers; one that could end a line is not sent", async () => {
  const { client, target, seen } = setUp(() => ok("x"));
  await (await client.get(target, "/a?b", { "x-tag": "abc" }, new Uint8Array(1), never())).read(
    () => {},
  );
  expect(seen.heads).toEqual([`GET /a?b HTTP/1.1\r\nhost: 127.0.0.1:${target.port}\r\nx-tag: abc`]);
  for (const [path, headers] of [
    ["/", { "x-tag": "a\r\nx-evil: 1" }],
    ["/", { "x-tag\r\nx-evil": "1" }],
    ["/", { "x-tag": "é" }],
    ["/a b", {}],
    ["/\r\nx-evil: 1", {}],
  ] as const)
    await expect(
      client.get(target, path, headers as Record<string, string>, new Uint8Array(1), never()),
    ).rejects.toThrow("not printable ASCII");
  expect(seen.heads.length).toBe(1);
});

test("a peer presenting another certificate is refused before anything is written", async () => {
  const { client, target, seen } = setUp(() => ok("x"));
  const error = await client
    .get({ ...target, certPem: otherCertPem }, "/", {}, new Uint8Array(1), never())
    .catch((e: Error) => e);
  expect(error).toBeInstanceOf(Error);
  expect(seen.bytes).toBe(0);
});

test("an error answer is read into a buffer of its own, never the caller's", async () => {
  const body = '{"error":{"code":"E_NOT_FOUND"}}';
  const { client, target } = setUp(() => [
    `HTTP/1.1 404 Not Found\r\ncontent-length: ${body.length}\r\n\r\n`,
    body,
  ]);
  const into = new Uint8Array(64);
  const answer = await client.get(target, "/", {}, into, never());
  expect([answer.status, answer.ok]).toEqual([404, false]);
  expect(new TextDecoder().decode(await answer.read(() => {}))).toBe(body);
  expect(into.every((byte) => byte === 0)).toBe(true);
});

test("a success longer than the caller's buffer is refused, and its connection not kept", async () => {
  const { client, target, seen } = setUp(() => ok("0123456789"));
  const answer = await client.get(target, "/", {}, new Uint8Array(4), never());
  expect(answer.ok).toBe(true);
  expect(await answer.read(() => {}).catch((e: Error) => e)).toBeInstanceOf(TooLarge);
  await (await client.get(target, "/", {}, new Uint8Array(10), never())).read(() => {});
  expect(seen.connections).toBe(2);
});

for (const [what, head] of [
  ["chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"],
  ["without a length", "HTTP/1.1 200 OK\r\n\r\n"],
  ["of HTTP/1.0", "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n"],
  ["interim", "HTTP/1.1 100 Continue\r\n\r\n"],
  ["with two lengths", "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n"],
  ["with a length that is no number", "HTTP/1.1 200 OK\r\ncontent-length: 1x\r\n\r\n"],
  ["with a line without a name", "HTTP/1.1 200 OK\r\n: x\r\ncontent-length: 1\r\n\r\n"],
  ["with a head past 16 KiB", `HTTP/1.1 200 OK\r\nx: ${"a".repeat(17 * 1024)}`],
  [
    "with a head past 16 KiB that ends",
    `HTTP/1.1 200 OK\r\nx: ${"a".repeat(17 * 1024)}\r\ncontent-length: 1\r\n\r\nx`,
  ],
] as const)
  test(`an answer ${what} is one this client does not take (fetch then does)`, async () => {
    const { client, target } = setUp(() => [head]);
    const error = await client.get(target, "/", {}, new Uint8Array(8), never()).catch((e) => e);
    expect(error).toBeInstanceOf(NotTaken);
  });

test("more bytes than the answer's length fail it", async () => {
  const { client, target } = setUp(() => ["HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n123"]);
  const answer = await client.get(target, "/", {}, new Uint8Array(8), never());
  expect(await answer.read(() => {}).catch((e) => e)).toBeInstanceOf(NotTaken);
});

test("a kept connection the peer closed meanwhile is replaced, the GET sent again once", async () => {
  const { client, target, seen } = setUp((_path, socket) => {
    // Answers, then closes the connection without saying so, as an idle limit does.
    setTimeout(() => socket.end(), 0);
    return ok("x");
  });
  for (let round = 0; round < 2; round++) {
    const answer = await client.get(target, "/", {}, new Uint8Array(1), never());
    expect(new TextDecoder().decode(await answer.read(() => {}))).toBe("x");
    // Until the peer's close is heard, so that the next GET meets it, or a new connection.
    for (const deadline = Date.now() + 5_000; seen.closed <= round && Date.now() < deadline; )
      await Bun.sleep(10);
  }
  expect(seen.connections).toBe(2);
});

test("an answer that says it closes is not kept", async () => {
  const { client, target, seen } = setUp(() => ok("x", "connection: close\r\n"));
  for (let round = 0; round < 2; round++)
    await (await client.get(target, "/", {}, new Uint8Array(1), never())).read(() => {});
  expect(seen.connections).toBe(2);
});

test("called off in the middle of the body: the body fails with the reason, the connection ends", async () => {
  const { client, target, seen } = setUp(() => [
    "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n",
    "half",
  ]);
  const controller = new AbortController();
  const answer = await client.get(target, "/", {}, new Uint8Array(100), controller.signal);
  const body = answer.read((n) => {
    if (n > 0) controller.abort(new Error("called off"));
  });
  expect(await body.catch((e: Error) => e.message)).toBe("called off");
  for (const deadline = Date.now() + 5_000; seen.closed === 0 && Date.now() < deadline; )
    await Bun.sleep(10);
  expect(seen.closed).toBe(1);
});

test("called off before it goes: nothing is sent", async () => {
  const { client, target, seen } = setUp(() => ok("x"));
  const controller = new AbortController();
  controller.abort(new Error("not now"));
  const error = await client
    .get(target, "/", {}, new Uint8Array(1), controller.signal)
    .catch((e: Error) => e.message);
  expect(error).toBe("not now");
  expect(seen.bytes).toBe(0);
});

test("a peer that breaks off in the middle of the body fails it", async () => {
  const { client, target } = setUp((_path, socket) => {
    setTimeout(() => socket.end(), 0);
    return ["HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", "part"];
  });
  const answer = await client.get(target, "/", {}, new Uint8Array(100), never());
  expect(await answer.read(() => {}).catch((e) => e)).toBeInstanceOf(Error);
});

test("a peer that is not there fails the GET", async () => {
  const { target, stop } = peer(() => ok("x"));
  stop();
  const client = new BulkGet();
  clients.push(client);
  expect(
    await client.get(target, "/", {}, new Uint8Array(1), never()).catch((e) => e),
  ).toBeInstanceOf(Error);
});

test("a kept connection does not keep the process alive: a command that is done ends", async () => {
  const { target } = setUp(() => ok("x"));
  const script = `
    const { BulkGet } = await import(${JSON.stringify(`${import.meta.dir}/bulk-get.ts`)});
    const client = new BulkGet();
    const answer = await client.get(${JSON.stringify(target)}, "/", {}, new Uint8Array(1), new AbortController().signal);
    console.log(new TextDecoder().decode(await answer.read(() => {})));
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const ended = await Promise.race([child.exited, Bun.sleep(10_000).then(() => "held")]);
  if (ended === "held") child.kill();
  expect(ended).toBe(0);
  expect((await new Response(child.stdout).text()).trim()).toBe("x");
});

test("called off while the TLS handshake waits: the connection ends, not left open", async () => {
  // A peer that takes the connection and never answers its handshake.
  const opened = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const silent = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: { open: () => opened.resolve(), data() {}, close: () => closed.resolve() },
  });
  peers.push({ stop: () => silent.stop(true) });
  const client = new BulkGet();
  clients.push(client);
  const controller = new AbortController();
  const target = { hostname: "127.0.0.1", port: silent.port, certPem };
  const answer = client.get(target, "/", {}, new Uint8Array(1), controller.signal);
  await opened.promise;
  controller.abort(new Error("called off"));
  expect(await answer.catch((e: Error) => e.message)).toBe("called off");
  const ended = await Promise.race([closed.promise.then(() => "closed"), Bun.sleep(5_000)]);
  expect(ended).toBe("closed");
});

test("a GET sent again after a kept connection failed goes on a new one, not another kept", async () => {
  // A peer that closes each connection, unanswered, at its second request: as one does
  // whose idle limit ended every kept connection at once.
  const asked = new WeakMap<object, number>();
  const { client, target, seen } = setUp((_path, socket) => {
    const times = (asked.get(socket) ?? 0) + 1;
    asked.set(socket, times);
    if (times === 1) return ok("x");
    socket.end();
    return "silence";
  });
  const read = async (answer: Promise<BulkAnswer>) =>
    new TextDecoder().decode(await (await answer).read(() => {}));
  const get = () => client.get(target, "/", {}, new Uint8Array(1), never());
  // Two kept connections.
  expect(await Promise.all([read(get()), read(get())])).toEqual(["x", "x"]);
  expect(seen.connections).toBe(2);
  expect(await read(get())).toBe("x");
  expect(seen.connections).toBe(3);
});

test("called off as its last byte is told: the closed connection is not kept in a live one's place", async () => {
  // Heads at once, and each body of one byte when the test lets it go; "/next" whole.
  const held = new Map<string, Socket<Seen>[]>();
  const { client, target, seen } = setUp((path, socket) => {
    if (path === "/next") return ok("z");
    held.set(path, [...(held.get(path) ?? []), socket]);
    return ["HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n"];
  });
  const get = (path: string, signal: AbortSignal) =>
    client.get(target, path, {}, new Uint8Array(1), signal);
  const off = Array.from({ length: 4 }, () => new AbortController());
  const offAnswers = await Promise.all(off.map((controller) => get("/off", controller.signal)));
  const live = await get("/live", never());
  expect(seen.connections).toBe(5);
  // Four called off by their own reading, as their one byte comes.
  const offReads = offAnswers.map((answer, at) =>
    answer
      .read(() => off[at]?.abort(new Error("called off")))
      .catch((error: Error) => error.message),
  );
  for (const socket of held.get("/off") ?? []) socket.write("x");
  expect(await Promise.all(offReads)).toEqual(Array(4).fill("called off"));
  // The live one ends after them, and is kept: the next GET goes on it.
  const liveRead = live.read(() => {});
  held.get("/live")?.[0]?.write("y");
  expect(new TextDecoder().decode(await liveRead)).toBe("y");
  expect(new TextDecoder().decode(await (await get("/next", never())).read(() => {}))).toBe("z");
  expect(seen.connections).toBe(5);
});

test("a kept connection on which the peer speaks out of turn is ended, never read as the next answer", async () => {
  let answers = 0;
  const { client, target, seen } = setUp((_path, socket) => {
    answers += 1;
    // After its first answer, an answer to nothing: it must not be the next GET's.
    if (answers === 1)
      setTimeout(() => socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nZ"), 0);
    return ok("x");
  });
  const get = async () =>
    new TextDecoder().decode(
      await (await client.get(target, "/", {}, new Uint8Array(1), never())).read(() => {}),
    );
  expect(await get()).toBe("x");
  // Until the client has heard the bytes out of turn, and ended the connection for them.
  for (const deadline = Date.now() + 5_000; seen.closed === 0 && Date.now() < deadline; )
    await Bun.sleep(10);
  expect(seen.closed).toBe(1);
  expect(await get()).toBe("x");
  expect(seen.connections).toBe(2);
});

test("close ends the connections kept for the next GET", async () => {
  const { client, target, seen } = setUp(() => ok("x"));
  const answers = await Promise.all(
    [0, 1].map(() => client.get(target, "/", {}, new Uint8Array(1), never())),
  );
  await Promise.all(answers.map((answer) => answer.read(() => {})));
  client.close();
  for (const deadline = Date.now() + 5_000; seen.closed < 2 && Date.now() < deadline; )
    await Bun.sleep(10);
  expect([seen.connections, seen.closed]).toEqual([2, 2]);
});

test("a kept connection left idle past the client's limit is ended by the client, never one carrying a GET", async () => {
  // The peer never closes an idle connection: only the client's limit can end it. Its
  // second answer comes well past that limit (its timer ticks every few seconds): only the
  // caller's own watch may cut a slow answer.
  let answers = 0;
  const { client, target, seen } = setUp((_path, socket) => {
    answers += 1;
    if (answers !== 2) return ok("x");
    setTimeout(() => {
      for (const part of ok("y")) socket.write(part);
    }, 5_000);
    return "silence";
  }, 1);
  const get = async () =>
    new TextDecoder().decode(
      await (await client.get(target, "/", {}, new Uint8Array(1), never())).read(() => {}),
    );
  expect(await get()).toBe("x");
  expect(await get()).toBe("y");
  expect([seen.connections, seen.closed]).toEqual([1, 0]);
  for (const deadline = Date.now() + 10_000; seen.closed === 0 && Date.now() < deadline; )
    await Bun.sleep(20);
  expect(seen.closed).toBe(1);
  expect(await get()).toBe("x");
  expect(seen.connections).toBe(2);
});
