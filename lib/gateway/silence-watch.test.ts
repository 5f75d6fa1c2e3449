import { expect, test } from "bun:test";
import { DeviceSilent, watchForSilence } from "./silence-watch.ts";

const FAST = { firstMs: 20, everyMs: 20 };

test("a device that takes the connection is asked again and again, and nothing is aborted", async () => {
  let asked = 0;
  const watch = watchForSilence("https://10.0.0.1:4431", async () => ++asked > 0, FAST);
  while (asked < 3) await Bun.sleep(10);
  watch.stop();
  const after = asked;
  await Bun.sleep(60);
  expect({ aborted: watch.signal.aborted, askedAfterStop: asked - after }).toEqual({
    aborted: false,
    askedAfterStop: 0,
  });
});

test("the first connect refused aborts with DeviceSilent, naming the address", async () => {
  let asked = 0;
  const watch = watchForSilence("https://10.0.0.1:4431", async () => ++asked < 3, FAST);
  await new Promise((resolve) => watch.signal.addEventListener("abort", resolve));
  expect(watch.signal.reason).toBeInstanceOf(DeviceSilent);
  expect({ asked, message: (watch.signal.reason as Error).message }).toEqual({
    asked: 3,
    message:
      "its device did not take a connection at https://10.0.0.1:4431 while its answer was awaited",
  });
});

test("an answer that comes while the device is being asked wins: stopped, never aborted", async () => {
  let release: (answered: boolean) => void = () => {};
  const watch = watchForSilence(
    "https://10.0.0.1:4431",
    () => new Promise<boolean>((resolve) => (release = resolve)),
    FAST,
  );
  await Bun.sleep(60);
  watch.stop();
  release(false);
  await Bun.sleep(10);
  expect(watch.signal.aborted).toBe(false);
});
