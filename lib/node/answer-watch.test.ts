import { describe, expect, test } from "bun:test";
import { AnswerWatch, MIN_PROGRESS_BYTES } from "./answer-watch.ts";

/** Resolves with the signal's reason once it aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<unknown>((resolve) =>
    signal.addEventListener("abort", () => resolve(signal.reason), { once: true }),
  );

describe("how long a peer has for its answer", () => {
  test("one that does not begin in time is given up on, as a timeout", async () => {
    const watch = new AnswerWatch(50);
    const reason = (await aborted(watch.signal)) as DOMException;
    expect(reason.name).toBe("TimeoutError");
  });

  test("one that brings enough each window goes on for as long as it takes", async () => {
    // Three windows' time, the least of a window brought every tenth of one.
    const watch = new AnswerWatch(100);
    watch.began();
    for (let tick = 0; tick < 30; tick++) {
      watch.moved(MIN_PROGRESS_BYTES);
      await Bun.sleep(10);
    }
    expect(watch.signal.aborted).toBe(false);
    watch.stop();
  });

  test("one that brings less than its least in a window is given up on", async () => {
    const watch = new AnswerWatch(50);
    watch.began();
    watch.moved(MIN_PROGRESS_BYTES - 1);
    await aborted(watch.signal);
    expect(watch.signal.aborted).toBe(true);
  });

  test("one that keeps coming is still given up on at its longest", async () => {
    const watch = new AnswerWatch(1_000, { maxMs: 100 });
    watch.began();
    const coming = setInterval(() => watch.moved(MIN_PROGRESS_BYTES), 10);
    try {
      const reason = (await aborted(watch.signal)) as DOMException;
      expect(reason.name).toBe("TimeoutError");
    } finally {
      clearInterval(coming);
    }
  });

  test("stopped, it aborts nothing", async () => {
    const watch = new AnswerWatch(20);
    watch.stop();
    await Bun.sleep(60);
    expect(watch.signal.aborted).toBe(false);
  });
});
