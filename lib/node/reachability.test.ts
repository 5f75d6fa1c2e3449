import { expect, test } from "bun:test";
import { connectProbe, Reachability } from "./reachability.ts";

function subject(answers: boolean[]) {
  let now = 0;
  const probes: string[] = [];
  const reach = new Reachability(
    () => now,
    async (address) => {
      probes.push(address);
      return answers.shift() ?? false;
    },
  );
  return { reach, probes, advance: (ms: number) => (now += ms) };
}

test("an address is probed once, then answered from memory while fresh", async () => {
  const { reach, probes } = subject([true]);
  expect(await reach.check("https://a:1")).toBe(true);
  expect(await reach.check("https://a:1")).toBe(true);
  expect(probes).toEqual(["https://a:1"]);
});

test("a stale answer is still given, while a new probe runs behind it", async () => {
  const { reach, probes, advance } = subject([false, true]);
  expect(await reach.check("https://a:1")).toBe(false);
  advance(6_000);
  expect(await reach.check("https://a:1")).toBe(false);
  await Bun.sleep(0);
  expect(probes).toHaveLength(2);
  expect(await reach.check("https://a:1")).toBe(true);
});

test("a failed request outweighs an old probe, and `fresh` asks again", async () => {
  const { reach, probes } = subject([true, true]);
  await reach.check("https://a:1");
  reach.record("https://a:1", false);
  expect(reach.known("https://a:1")).toBe(false);
  expect(await reach.check("https://a:1", true)).toBe(true);
  expect(probes).toHaveLength(2);
});

test("checkWithin: a finding younger than the bound is taken as now, an older one probed again", async () => {
  const { reach, probes, advance } = subject([true, false]);
  reach.record("https://a:1", true);
  advance(500);
  expect(await reach.checkWithin("https://a:1", 1_000)).toBe(true);
  expect(probes).toEqual([]);
  advance(600);
  expect(await reach.checkWithin("https://a:1", 1_000)).toBe(true);
  expect(await reach.checkWithin("https://a:1", 1_000)).toBe(true);
  advance(1_100);
  expect(await reach.checkWithin("https://a:1", 1_000)).toBe(false);
  expect(probes).toEqual(["https://a:1", "https://a:1"]);
});

test("connectProbe: an open port answers, a closed one does not, a bad address is no address", async () => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    expect(await connectProbe(`https://127.0.0.1:${server.port}`)).toBe(true);
  } finally {
    server.stop(true);
  }
  expect(await connectProbe(`https://127.0.0.1:${server.port}`)).toBe(false);
  expect(await connectProbe("not a url")).toBe(false);
});

test("connectProbe: a live listener answers though this process was busy past the timeout right after asking", async () => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const answers: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      // A timeout long enough for a loaded machine's loopback connect, and the event loop
      // held (a gateway under load) longer, before the connect could go out.
      const probe = connectProbe(`https://127.0.0.1:${server.port}`, 200);
      const until = performance.now() + 300;
      while (performance.now() < until) {}
      answers.push(await probe);
    }
    expect(answers).toEqual([true, true, true, true, true, true]);
  } finally {
    server.stop(true);
  }
});
