/**
 * A catalog's source at a web address, as whatever server holds it answers: an answer
 * that breaks off, or runs past its bound, is said in bucky's words (a BuckyError), never
 * thrown as the runtime's own error, which the daemon would take for a bug of its own and
 * crash on.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { MAX_CATALOG_LENGTH } from "../../protocol/catalog.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { objectsAt, readIndex } from "./sources.ts";

/** A body that sends a few bytes, then breaks off (the connection is cut). */
function brokenOff(): Response {
  return new Response(
    new ReadableStream({
      async pull(controller) {
        controller.enqueue(new TextEncoder().encode("eyJhbGciOi"));
        await Bun.sleep(20);
        controller.error(new Error("the server went away"));
      },
    }),
  );
}

/** A body past `sizeBytes`, saying nothing of its length. */
function endless(sizeBytes: number): Response {
  let sent = 0;
  return new Response(
    new ReadableStream({
      pull(controller) {
        if (sent > sizeBytes) return controller.close();
        sent += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x61));
      },
    }),
  );
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request) {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/broken/")) return brokenOff();
    return endless(MAX_CATALOG_LENGTH);
  },
});
afterAll(() => server.stop(true));

const at = (path: string) =>
  ({ kind: "url", url: `http://127.0.0.1:${server.port}${path}` }) as const;

async function failure(work: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await work.then(
    () => new Error("it did not fail"),
    (error: unknown) => error,
  );
  if (!(error instanceof BuckyError)) throw error;
  return { code: error.code, message: error.message };
}

describe("a catalog at a web address", () => {
  test("whose index breaks off is unavailable, said in bucky's words", async () => {
    expect(await failure(readIndex(at("/broken/")))).toEqual({
      code: "E_UNAVAILABLE",
      message: `127.0.0.1:${server.port} broke off /broken/catalog.jws (the connection was cut)`,
    });
  });

  test("whose object breaks off is unavailable, so another source is asked", async () => {
    const id = `sha256:${"ab".repeat(32)}` as ObjectId;
    expect(await failure(objectsAt(at("/broken/")).fetch(id))).toEqual({
      code: "E_UNAVAILABLE",
      message: `127.0.0.1:${server.port} broke off /broken/ndn/${id} (the connection was cut)`,
    });
  });

  test("whose index runs past its bound is refused", async () => {
    expect(await failure(readIndex(at("/large/")))).toEqual({
      code: "E_INVALID_INPUT",
      message: `http://127.0.0.1:${server.port}/large/catalog.jws is larger than ${MAX_CATALOG_LENGTH} bytes`,
    });
  });
});
