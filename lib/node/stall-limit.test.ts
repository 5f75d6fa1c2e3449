import { afterAll, describe, expect, test } from "bun:test";
import { mayOutlastIdleLimit, SMALL_ANSWER_BYTES, stallLimited } from "./stall-limit.ts";

/** A chunk of 1000 bytes every 250 ms, `chunks` of them; or, with `stall`, one then none. */
function slowBody(chunks: number, onCancel?: () => void): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent++ >= chunks) return controller.close();
      if (sent > 1) await Bun.sleep(250);
      controller.enqueue(new Uint8Array(1000));
    },
    cancel: onCancel,
  });
}

let cancelled: () => void = () => {};
// Bun's idle limit at 2 s: it takes effect in ticks of about 4 s.
const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 2,
  fetch(request, srv) {
    const path = new URL(request.url).pathname;
    if (path === "/unwatched") return new Response(slowBody(28));
    if (path === "/watched") return new Response(stallLimited(srv, request, slowBody(28), 2000));
    // One chunk, then nothing: the app stopped sending.
    const stalls = new ReadableStream<Uint8Array>({
      start: (c) => c.enqueue(new Uint8Array(10)),
      cancel: () => cancelled(),
    });
    return new Response(stallLimited(srv, request, stalls, 1000));
  },
});
afterAll(() => server.stop(true));

async function download(path: string): Promise<string> {
  let got = 0;
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
    for await (const chunk of response.body as ReadableStream<Uint8Array>) got += chunk.length;
    return `whole: ${got}`;
  } catch {
    return `cut after ${got}`;
  }
}

describe("an answer that outlasts the server's idle limit", () => {
  test("is cut by Bun mid-transfer, though its bytes keep moving (why this exists)", async () => {
    expect(await download("/unwatched")).not.toBe("whole: 28000");
  }, 20_000);

  test("is written whole when stall-limited, for as long as its chunks keep moving", async () => {
    expect(await download("/watched")).toBe("whole: 28000");
  }, 20_000);

  test("is ended when it stalls, the app's side given up on", async () => {
    const gone = new Promise<void>((resolve) => {
      cancelled = resolve;
    });
    expect(await download("/stalls")).toBe("cut after 10");
    await gone;
  }, 20_000);
});

describe("mayOutlastIdleLimit", () => {
  test("a body of unknown or large length may; a small one or none may not", () => {
    const sized = (n: number) =>
      new Response(new Uint8Array(1), { headers: { "content-length": String(n) } });
    expect(mayOutlastIdleLimit(new Response(new ReadableStream()))).toBe(true);
    expect(mayOutlastIdleLimit(sized(SMALL_ANSWER_BYTES + 1))).toBe(true);
    expect(mayOutlastIdleLimit(sized(SMALL_ANSWER_BYTES))).toBe(false);
    expect(mayOutlastIdleLimit(new Response(null, { status: 204 }))).toBe(false);
  });
});
