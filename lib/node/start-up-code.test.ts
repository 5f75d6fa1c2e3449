import { expect, test } from "bun:test";
import { releaseStartUpCode } from "./start-up-code.ts";

/** Settles when a timer set now for `ms` fires: timers set later for longer fire later. */
const timerAfter = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

test("the start's compiled code is released once, after the delay, not before", async () => {
  const releasedAt: number[] = [];
  const startedAt = performance.now();
  releaseStartUpCode(30, () => releasedAt.push(performance.now()));
  expect(releasedAt).toEqual([]);
  await timerAfter(90);
  expect(releasedAt).toHaveLength(1);
  expect((releasedAt[0] as number) - startedAt).toBeGreaterThanOrEqual(29);
});

test("a daemon that stops before the delay releases nothing", async () => {
  let calls = 0;
  const cancel = releaseStartUpCode(10, () => calls++);
  cancel();
  await timerAfter(40);
  expect(calls).toBe(0);
});
