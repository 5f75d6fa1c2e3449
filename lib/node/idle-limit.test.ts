/**
 * Bun.serve's idle limit (idleTimeout), as the gateway (30 s) and the peer servers (60 s)
 * rely on it: a limit on how long a connection stays silent, which Bun moves as it writes
 * an answer, not on how long the answer takes. A download an app streams slowly, or a
 * large answer read slowly, arrives whole however long it takes; an answer whose app stops
 * sending, or whose reader stops reading, is let go after the limit. Nothing of bucky's
 * needs to watch an answer for that (lib/ndn/serve.test.ts: the same of files by id).
 *
 * The limit here is 5 s, just above one tick of Bun's idle timer (4 s): under a limit of a
 * tick or less Bun ends an answer at its first tick, its bytes moving or not (the last
 * test), which is not what longer limits do.
 *
 * The local API's socket (lib/node/local-server.ts) keeps Bun's default limit away from a
 * request the daemon works on in silence; that case waits out the default, so it runs
 * here, at once with the others (in a file of its own it added 13 s to every run).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { homePaths } from "../home.ts";
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
  answer: () => Response,
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
