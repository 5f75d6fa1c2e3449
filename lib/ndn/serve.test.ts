/**
 * `/ndn/<id>` as a device's peer server answers it, under an idle limit (Bun.serve's
 * idleTimeout): the limit is on how long the connection stays silent, not on how long an
 * answer takes, so a file read slowly arrives whole however long it takes, and one whose
 * reader stops is let go. Nothing of bucky's watches the answer: Bun moves its limit as
 * it writes.
 *
 * The limit here is 5 s, just above one tick of Bun's idle timer (4 s): under a limit of
 * 4 s or less Bun ends an answer at its first tick whether its bytes move or not, which is
 * not what the servers' limits (30 and 60 s) do.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { Hono } from "hono";
import { CHUNK_BYTES } from "../../protocol/ndn.ts";
import {
  readSlowly,
  readThenStop,
  type ServerAddress,
  serveUnderLimit,
  untilLetGo,
} from "../node/test-idle-limit.ts";
import { ndnRoutes } from "./serve.ts";
import { ObjectStore } from "./store.ts";

const LIMIT_S = 5;
const root = mkdtempSync(join(tmpdir(), "bucky-ndn-serve-test-"));
const store = new ObjectStore(join(root, "store"));
const running: Server<unknown>[] = [];
afterAll(() => {
  for (const server of running) server.stop(true);
  rmSync(root, { recursive: true, force: true });
});

/** Bytes that differ along their length, so a part misplaced or missing shows. */
function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return bytes;
}

const chunk = patterned(CHUNK_BYTES, 1);
const file = patterned(3 * CHUNK_BYTES, 2);
const small = patterned(1000, 3);
let ids: { chunk: string; file: string; small: string };
beforeAll(() => {
  ids = {
    chunk: store.putBytes(chunk).id,
    file: store.putBytes(file).id,
    small: store.putBytes(small).id,
  };
});

/** A server of its own (its pending requests are one test's), as the peer API mounts /ndn. */
function serveNdn(on: "unix" | "tcp"): { address: ServerAddress; server: Server<unknown> } {
  const app = new Hono().route("/ndn", ndnRoutes(store));
  const served = serveUnderLimit(on, LIMIT_S, app.fetch, root);
  running.push(served.server);
  return served;
}

describe("a file by id read more slowly than the idle limit allows for its whole length", () => {
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

test("a small file by id goes out as it is: its Content-Length, not chunked", async () => {
  const { address } = serveNdn("tcp");
  const answer = await readSlowly(address, `/ndn/${ids.small}`, Number.MAX_SAFE_INTEGER);
  expect(answer.headers["content-length"]).toBe(String(small.length));
  expect(answer.headers["transfer-encoding"]).toBeUndefined();
  expect(answer.body).toEqual(small);
});
