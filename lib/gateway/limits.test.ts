import { describe, expect, test } from "bun:test";
import { counter, TokenBucket } from "./limits.ts";

describe("TokenBucket", () => {
  test("allows a burst, then one per 1/rate seconds, and says how long to wait", () => {
    let now = 0;
    const bucket = new TokenBucket(5, 5, () => now);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: false, waitMs: 200 });
    now = 200;
    expect(bucket.take()).toEqual({ ok: true });
    now = 10_000;
    // Refills to the burst, no more.
    for (let i = 0; i < 5; i++) expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take().ok).toBe(false);
  });

  test("a clock set back earns nothing meanwhile, and owes nothing for the step", () => {
    let now = 10 * 3_600_000;
    const bucket = new TokenBucket(10, 100, () => now);
    expect(bucket.take()).toEqual({ ok: true });
    // Set back an hour: before, every take was refused for the hour.
    now -= 3_600_000;
    expect(bucket.take()).toEqual({ ok: true });
    now += 1000;
    for (let i = 0; i < 98; i++) expect(bucket.take()).toEqual({ ok: true });
  });

  test("takeOwing runs into debt and says how long until it is paid", () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 1000, () => now);
    expect(bucket.takeOwing(1000)).toBe(0);
    expect(bucket.takeOwing(500)).toBe(500);
    now = 500;
    expect(bucket.takeOwing(0)).toBe(0);
  });
});

/** What the test reads an answer with. */
interface Reader {
  read(): Promise<{ done: boolean }>;
  cancel(reason?: unknown): Promise<void>;
}

describe("the byte counter of an answer", () => {
  test("says it ended however the answer ends: whole, its source failing, or its reader gone", async () => {
    const endsOf = async (
      source: ReadableStream<Uint8Array>,
      read: (r: Reader) => Promise<unknown>,
    ) => {
      let ended = 0;
      let bytes = 0;
      const reader = source
        .pipeThrough(
          counter(
            (n) => (bytes += n),
            () => ended++,
          ),
        )
        .getReader();
      await read(reader).catch(() => undefined);
      await Bun.sleep(10);
      return { ended, bytes };
    };
    const readAll = async (reader: Reader) => {
      while (!(await reader.read()).done);
    };
    const whole = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(3));
        controller.close();
      },
    });
    expect(await endsOf(whole, readAll)).toEqual({ ended: 1, bytes: 3 });
    const failing = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(3));
        setTimeout(() => controller.error(new Error("the app crashed")), 5);
      },
    });
    expect(await endsOf(failing, readAll)).toEqual({ ended: 1, bytes: 3 });
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(3));
      },
    });
    const readOnceAndGo = async (reader: Reader) => {
      await reader.read();
      await reader.cancel("the client went");
    };
    expect((await endsOf(endless, readOnceAndGo)).ended).toBe(1);
  });
});
