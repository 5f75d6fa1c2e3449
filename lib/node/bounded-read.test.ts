/**
 * The one bounded reader of HTTP bodies: its bound (lib/node/request-body.test.ts and the
 * peer client's tests drive it through their callers) and its idle time, which gives up on
 * a body that stops coming and cancels it, in the caller's words.
 */
import { describe, expect, test } from "bun:test";
import { type BoundedReadWords, bytesWithin, chunksWithin } from "./bounded-read.ts";

/** A body that sends `pieces` (one every `everyMs`), then stays open and silent, or ends. */
function body(pieces: number, options: { everyMs?: number; thenEnd?: boolean } = {}) {
  let sent = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === pieces) {
        if (options.thenEnd) controller.close();
        return; // Silent: no chunk, no end, until cancelled.
      }
      if (options.everyMs && sent > 0) await Bun.sleep(options.everyMs);
      sent += 1;
      controller.enqueue(new Uint8Array(100).fill(0x61));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { response: new Response(stream), cancelled: () => cancelled };
}

const words: BoundedReadWords = {
  tooLarge: (declaredBytes) => new Error(`too large (said ${declaredBytes})`),
  brokeOff: (error) => new Error(`broke off: ${(error as Error).name}`),
  stalled: (idleMs) => new Error(`stalled for ${idleMs} ms`),
};

async function refusal(reading: Promise<unknown>): Promise<string> {
  return reading.then(
    () => "read",
    (error: Error) => error.message,
  );
}

describe("a body read within an idle time", () => {
  test("that stops coming is given up on in the caller's words, and cancelled", async () => {
    const sending = body(2);
    const refused = await refusal(bytesWithin(sending.response, 10_000, words, { idleMs: 100 }));
    expect({ refused, cancelled: sending.cancelled() }).toEqual({
      refused: "stalled for 100 ms",
      cancelled: true,
    });
  });

  test("that stops coming is broken off by a timeout when the caller has no words for it", async () => {
    const { stalled: _, ...noStalled } = words;
    const sending = body(1);
    const refused = await refusal(
      bytesWithin(sending.response, 10_000, noStalled, { idleMs: 100 }),
    );
    expect({ refused, cancelled: sending.cancelled() }).toEqual({
      refused: "broke off: TimeoutError",
      cancelled: true,
    });
  });

  test("is timed per chunk, not whole: a slow body that keeps coming is read", async () => {
    // Ten pieces, 30 ms apart: 300 ms in all, past the idle time of 1 s only piece by piece.
    const sending = body(10, { everyMs: 30, thenEnd: true });
    const chunks: number[] = [];
    for await (const chunk of chunksWithin(sending.response, 10_000, words, { idleMs: 1000 }))
      chunks.push(chunk.length);
    expect(chunks).toEqual(Array(10).fill(100));
  });

  test("over the bound, the caller is told what Content-Length said, if it said", async () => {
    const declared = new Response("x".repeat(500), { headers: { "content-length": "500" } });
    expect(await refusal(bytesWithin(declared, 100, words))).toBe("too large (said 500)");
    expect(await refusal(bytesWithin(body(3, { thenEnd: true }).response, 250, words))).toBe(
      "too large (said undefined)",
    );
  });
});
