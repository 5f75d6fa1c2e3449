/**
 * `/ndn/<id>` as a device's peer server answers it, under an idle limit (Bun.serve's
 * idleTimeout), as the peer server listens. That a file read slowly arrives whole however
 * long it takes, and one whose reader stops is let go, is in lib/node/idle-limit.test.ts,
 * with the other cases that wait out an idle limit, all at once.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Server } from "bun";
import { Hono } from "hono";
import { readSlowly, type ServerAddress, serveUnderLimit } from "../node/test-idle-limit.ts";
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

const small = patterned(1000, 3);
let ids: { small: string };
beforeAll(() => {
  ids = { small: store.putBytes(small).id };
});

/** A server of its own (its pending requests are one test's), as the peer API mounts /ndn. */
function serveNdn(on: "unix" | "tcp"): { address: ServerAddress; server: Server<unknown> } {
  const app = new Hono().route("/ndn", ndnRoutes(store));
  const served = serveUnderLimit(on, LIMIT_S, app.fetch, root);
  running.push(served.server);
  return served;
}

test("a small file by id goes out as it is: its Content-Length, not chunked", async () => {
  const { address } = serveNdn("tcp");
  const answer = await readSlowly(address, `/ndn/${ids.small}`, Number.MAX_SAFE_INTEGER);
  expect(answer.headers["content-length"]).toBe(String(small.length));
  expect(answer.headers["transfer-encoding"]).toBeUndefined();
  expect(answer.body).toEqual(small);
});
