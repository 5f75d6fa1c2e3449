import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { isDaemonDown, isDaemonSilent, requestDaemon } from "./daemon-client.ts";

const homes: string[] = [];

function home(): string {
  const dir = mkdtempSync(join(tmpdir(), "bucky-daemon-client-"));
  homes.push(dir);
  return dir;
}

async function refusal(request: Promise<unknown>): Promise<unknown> {
  try {
    await request;
  } catch (error) {
    return error;
  }
  throw new Error("the request was answered");
}

afterEach(() => {
  for (const dir of homes.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/**
 * A daemon on `dir`'s socket that begins every answer and never ends it; `begun` settles
 * once one has begun.
 */
function halfAnswering(dir: string) {
  const begun = Promise.withResolvers<void>();
  const daemon = Bun.serve({
    unix: join(dir, "daemon.sock"),
    fetch: () =>
      new Response(
        new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"status":'));
            begun.resolve();
          },
        }),
        { headers: { "content-type": "application/json" } },
      ),
  });
  return { daemon, begun: begun.promise };
}

describe("requestDaemon with no daemon", () => {
  test("a home with no socket is said to have no daemon without starting a request", async () => {
    const fetched = spyOn(globalThis, "fetch");
    try {
      const dir = home();
      const error = await refusal(requestDaemon(dir, "GET", "/v1/status"));
      expect(error).toBeInstanceOf(BuckyError);
      expect(isDaemonDown(error)).toBe(true);
      expect((error as BuckyError).code).toBe("E_UNAVAILABLE");
      expect((error as BuckyError).message).toBe(`the bucky daemon for ${dir} is not running`);
      expect(fetched).not.toHaveBeenCalled();
    } finally {
      fetched.mockRestore();
    }
  });

  test("a home whose device was revoked: said so, not to start a daemon that will not run", async () => {
    const dir = home();
    writeFileSync(join(dir, "revoked"), "");
    const error = await refusal(requestDaemon(dir, "GET", "/v1/devices"));
    expect(isDaemonDown(error)).toBe(true);
    expect((error as BuckyError).code).toBe("E_REVOKED");
    expect((error as BuckyError).hint).toContain("join it into a new home under a new name");
  });

  test("a socket left behind that nothing listens on is no daemon either", async () => {
    const dir = home();
    writeFileSync(join(dir, "daemon.sock"), "");
    const error = await refusal(requestDaemon(dir, "GET", "/v1/status"));
    expect(isDaemonDown(error)).toBe(true);
    expect((error as BuckyError).cause).toBeDefined();
  });
});

describe("requestDaemon, its daemon running but not answering in time", () => {
  test("says so, not that it is not running: what was asked may still be done", async () => {
    const dir = home();
    const answer = Promise.withResolvers<Response>();
    const daemon = Bun.serve({ unix: join(dir, "daemon.sock"), fetch: () => answer.promise });
    try {
      const error = await refusal(requestDaemon(dir, "PUT", "/v1/state/apps/x", { value: 1 }, 200));
      expect(error).toBeInstanceOf(BuckyError);
      expect((error as BuckyError).code).toBe("E_UNAVAILABLE");
      expect((error as BuckyError).message).toBe(
        `the bucky daemon for ${dir} did not answer within 200 ms`,
      );
      expect((error as BuckyError).hint).toContain("may have been done, or may still be");
      // A caller that does the work itself when no daemon runs (bucky put) must not here.
      expect(isDaemonDown(error)).toBe(false);
      expect(isDaemonSilent(error)).toBe(true);
    } finally {
      answer.resolve(Response.json({}));
      daemon.stop(true);
    }
  });
});

describe("requestDaemon, its daemon's answer begun and not ended in time", () => {
  test("is no answer, not an empty one", async () => {
    const dir = home();
    const { daemon } = halfAnswering(dir);
    try {
      const error = await refusal(requestDaemon(dir, "GET", "/v1/status", undefined, 300));
      expect(isDaemonSilent(error)).toBe(true);
      expect((error as BuckyError).message).toBe(
        `the bucky daemon for ${dir} did not answer within 300 ms`,
      );
    } finally {
      daemon.stop(true);
    }
  });
});

describe("requestDaemon, its daemon gone while answering", () => {
  test("says so, not that it is not running, nor that it answered nothing", async () => {
    const dir = home();
    const { daemon, begun } = halfAnswering(dir);
    const asked = refusal(requestDaemon(dir, "PUT", "/v1/state/apps/x", { value: 1 }));
    await begun;
    // Its connections closed in the middle of the answer: a daemon killed while at it.
    daemon.stop(true);
    const error = await asked;
    expect((error as BuckyError).message).toBe(
      `the bucky daemon for ${dir} stopped while answering`,
    );
    expect(isDaemonDown(error)).toBe(false);
    expect(isDaemonSilent(error)).toBe(true);
  });
});

describe("requestDaemon's answer", () => {
  test("a code that is none of bucky's, though every object has it, is no code: an internal error", async () => {
    const dir = home();
    const daemon = Bun.serve({
      unix: join(dir, "daemon.sock"),
      fetch: () =>
        Response.json(
          { error: { code: "constructor", message: "no such thing" } },
          { status: 400 },
        ),
    });
    try {
      const error = await refusal(requestDaemon(dir, "GET", "/v1/status"));
      expect(error).toBeInstanceOf(BuckyError);
      expect((error as BuckyError).code).toBe("E_INTERNAL");
      expect((error as BuckyError).message).toBe("no such thing");
    } finally {
      daemon.stop(true);
    }
  });
});
