/**
 * Bun.serve's idle limit (idleTimeout), as the gateway (30 s) and the peer servers (60 s)
 * rely on it: a limit on how long a connection stays silent, which Bun moves as it writes
 * an answer, not on how long the answer takes. A download an app streams slowly, or a
 * large answer read slowly, arrives whole however long it takes; an answer whose app stops
 * sending, or whose reader stops reading, is let go after the limit. Nothing of bucky's
 * needs to watch an answer for that; nor does /ndn/<id> of the peer server (the last
 * cases: files by id read slowly, or not read).
 *
 * The limit here is 5 s, just above one tick of Bun's idle timer (4 s): under a limit of a
 * tick or less Bun ends an answer at its first tick, its bytes moving or not (the last
 * test), which is not what longer limits do.
 *
 * The local API's socket (lib/node/local-server.ts) keeps Bun's default limit away from a
 * request the daemon works on in silence. Each case here waits out a limit, so they are all
 * here, run at once (the local socket's and the /ndn cases in files of their own added 13
 * and 12 s to every run).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { Hono } from "hono";
import { CHUNK_BYTES } from "../../protocol/ndn.ts";
import { homePaths } from "../home.ts";
import { ndnRoutes } from "../ndn/serve.ts";
import { ObjectStore } from "../ndn/store.ts";
import { requestDaemon } from "./daemon-client.ts";
import { serveLocal } from "./local-server.ts";
import {
  readSlowly,
  readThenStop,
  type ServerAddress,
  serveUnderLimit,
  untilLetGo,
} from "./test-idle-limit.ts";

const LIMIT_S = 5;
const root = mkdtempSync(join(tmpdir(), "bucky-idle-limit-test-"));
const running: Server<unknown>[] = [];
afterAll(() => {
  for (const server of running) server.stop(true);
  rmSync(root, { recursive: true, force: true });
});

/** A server of its own (its pending requests are one test's) answering with `answer()`. */
function serve(
  on: "tcp" | "unix",
  answer: (request: Request) => Response | Promise<Response>,
  limitS = LIMIT_S,
): { address: ServerAddress; server: Server<unknown> } {
  const served = serveUnderLimit(on, limitS, answer, root);
  running.push(served.server);
  return served;
}

/** A stream of `count` chunks of 1000 bytes, one every 250 ms, as a slow app sends. */
function slowStream(count: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent > 0) await Bun.sleep(250);
      if (sent++ === count) return controller.close();
      controller.enqueue(new Uint8Array(1000).fill(sent & 0xff));
    },
  });
}

describe("an answer that takes longer than the idle limit to write", () => {
  test.concurrent("arrives whole while an app sends it slowly, for more than twice the limit", async () => {
    // 48 chunks, 250 ms apart: 12 s.
    const { address } = serve("tcp", () => new Response(slowStream(48)));
    const answer = await readSlowly(address, "/", Number.MAX_SAFE_INTEGER);
    expect(answer.bodyBytes).toBe(48_000);
    expect(answer.body?.length).toBe(48_000);
  }, 30_000);

  test.concurrent("arrives whole while read slowly: bytes of a known length (a backup file through a via), for twice the limit", async () => {
    const bytes = new Uint8Array(12 * 1024 * 1024).map((_, i) => (i * 31 + (i >> 12)) & 0xff);
    const { address } = serve("unix", () => new Response(bytes));
    const startMs = performance.now();
    const answer = await readSlowly(address, "/", 1024 * 1024);
    expect(answer.bodyBytes).toBe(bytes.length);
    expect(answer.body).toEqual(bytes);
    expect(performance.now() - startMs).toBeGreaterThan(2 * LIMIT_S * 1000);
  }, 30_000);
});

describe("an answer on which nothing moves for the limit", () => {
  test.concurrent("is let go when its app stops sending, the app's side cancelled", async () => {
    let cancelled = false;
    const { address, server } = serve(
      "tcp",
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start: (controller) => controller.enqueue(new Uint8Array(10)),
            cancel: () => {
              cancelled = true;
            },
          }),
        ),
    );
    const socket = await readThenStop(address, "/", 10);
    try {
      // Within the limit and a tick of Bun's timer, with room for a loaded machine.
      await untilLetGo(server, 3 * LIMIT_S * 1000);
      expect(cancelled).toBe(true);
    } finally {
      socket.destroy();
    }
  }, 30_000);

  test.concurrent("is let go when its reader stops reading, the app's side cancelled", async () => {
    let cancelled = false;
    const { address, server } = serve("tcp", () => {
      let sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            if (sent++ === 1024) return controller.close();
            controller.enqueue(new Uint8Array(64 * 1024));
          },
          cancel: () => {
            cancelled = true;
          },
        }),
      );
    });
    const socket = await readThenStop(address, "/", 256 * 1024);
    try {
      await untilLetGo(server, 3 * LIMIT_S * 1000);
      expect(cancelled).toBe(true);
    } finally {
      socket.destroy();
    }
  }, 30_000);
});

test.concurrent("under a limit of one tick of Bun's timer (4 s), an answer is ended at that tick though it moves: these tests' limit is above it", async () => {
  const { address } = serve("tcp", () => new Response(slowStream(40)), 4);
  const answer = await readSlowly(address, "/", Number.MAX_SAFE_INTEGER);
  expect(answer.body).toBeUndefined();
  expect(answer.bodyBytes).toBeLessThan(40_000);
}, 30_000);

/**
 * Past Bun's default idle limit (10 s, checked on a 4 s tick: cut between 8 and 12 s), as a
 * revocation whose peers are slow to answer takes.
 */
const SILENT_MS = 13_000;

describe("the local API's socket", () => {
  test.concurrent("keeps a request open while the daemon works on it without a word", async () => {
    const home = join(root, "home");
    mkdirSync(home);
    const server = serveLocal(homePaths(home).daemonSocket, async () => {
      await Bun.sleep(SILENT_MS);
      return Response.json({ done: true });
    });
    try {
      expect(await requestDaemon(home, "POST", "/v1/devices/x/revoke")).toEqual({ done: true });
    } finally {
      server.stop(true);
    }
  }, 30_000);
});

/** Bytes that differ along their length, so a part misplaced or missing shows. */
function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return bytes;
}

describe("a file by id read more slowly than the idle limit allows for its whole length", () => {
  const store = new ObjectStore(join(root, "store"));
  const chunk = patterned(CHUNK_BYTES, 1);
  const file = patterned(3 * CHUNK_BYTES, 2);
  // Stored as the tests are collected: a beforeAll would hold these cases back until the
  // others of the file were done, not run them at once.
  const ids = { chunk: store.putBytes(chunk).id, file: store.putBytes(file).id };

  /** A server of its own (its pending requests are one test's), as the peer API mounts /ndn. */
  const serveNdn = (on: "unix" | "tcp") =>
    serve(on, new Hono().route("/ndn", ndnRoutes(store)).fetch);

  test.concurrent("arrives whole: a chunk (a file body of known length), for twice the limit", async () => {
    const { address } = serveNdn("unix");
    const startMs = performance.now();
    const answer = await readSlowly(address, `/ndn/${ids.chunk}`, 320 * 1024);
    expect(answer.bodyBytes).toBe(chunk.length);
    expect(performance.now() - startMs).toBeGreaterThan(2 * LIMIT_S * 1000);
    expect(answer.body).toEqual(chunk);
  }, 30_000);

  test.concurrent("arrives whole: a chunk list's file (a stream of its chunks), for twice the limit", async () => {
    const { address } = serveNdn("unix");
    const startMs = performance.now();
    const answer = await readSlowly(address, `/ndn/${ids.file}`, 1024 * 1024);
    expect(answer.bodyBytes).toBe(file.length);
    expect(performance.now() - startMs).toBeGreaterThan(2 * LIMIT_S * 1000);
    expect(answer.body).toEqual(file);
  }, 30_000);

  test.concurrent("is let go, its connection closed, when its reader stops for the limit", async () => {
    // On TCP, as the peer server listens: a server.timeout(request, 0) that took Bun's limit
    // off would leave this connection held for good there (measured), not on a Unix socket.
    const { address, server } = serveNdn("tcp");
    const socket = await readThenStop(address, `/ndn/${ids.file}`, 256 * 1024);
    try {
      // Within the limit and a tick of Bun's timer, with room for a loaded machine.
      await untilLetGo(server, 3 * LIMIT_S * 1000);
    } finally {
      socket.destroy();
    }
  }, 30_000);
});
