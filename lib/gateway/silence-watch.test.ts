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

test("one connect that does not open is asked again at once, afresh; a device that takes that one keeps the wait", async () => {
  const asked: boolean[] = [];
  const watch = watchForSilence(
    "https://10.0.0.1:4431",
    async (_, fresh) => asked.push(fresh) !== 2,
    FAST,
  );
  while (asked.length < 4) await Bun.sleep(5);
  watch.stop();
  expect({ aborted: watch.signal.aborted, asked: asked.slice(0, 4) }).toEqual({
    aborted: false,
    asked: [false, false, true, false],
  });
});

test("two connects in a row that do not open abort with DeviceSilent, naming the address", async () => {
  const asked: boolean[] = [];
  const watch = watchForSilence(
    "https://10.0.0.1:4431",
    async (_, fresh) => asked.push(fresh) < 3,
    FAST,
  );
  await new Promise((resolve) => watch.signal.addEventListener("abort", resolve));
  expect(watch.signal.reason).toBeInstanceOf(DeviceSilent);
  expect({ asked, message: (watch.signal.reason as Error).message }).toEqual({
    asked: [false, false, false, true],
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
