import { afterAll, expect, test } from "bun:test";
import { keepLoopbackOffProxies } from "./loopback-proxy.ts";

const proxied: string[] = [];
const proxy = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: (request) => {
    proxied.push(request.url);
    return new Response("the proxy's answer");
  },
});
const device = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch: () => new Response("the device's"),
});
const saved = { ...process.env };
afterAll(() => {
  for (const name of ["http_proxy", "HTTP_PROXY", "NO_PROXY", "no_proxy"]) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  proxy.stop(true);
  device.stop(true);
});

test("a plain request to loopback goes around the proxy the environment names", async () => {
  process.env.http_proxy = `http://127.0.0.1:${proxy.port}`;
  delete process.env.NO_PROXY;
  delete process.env.no_proxy;
  // What Bun does without it: the request, and its answer, go through the proxy.
  const before = await (await fetch(`http://127.0.0.1:${device.port}/v1/sync/pull`)).text();
  expect(before).toBe("the proxy's answer");
  expect(proxied).toHaveLength(1);

  keepLoopbackOffProxies(process.env);
  const after = await (await fetch(`http://127.0.0.1:${device.port}/v1/sync/pull`)).text();
  expect(after).toBe("the device's");
  expect(proxied).toHaveLength(1);
});

test("keeps what NO_PROXY already lists, and adds each loopback name once", () => {
  const env: Record<string, string | undefined> = { NO_PROXY: "corp.example, 127.0.0.1" };
  keepLoopbackOffProxies(env);
  keepLoopbackOffProxies(env);
  expect(env.NO_PROXY).toBe("corp.example,127.0.0.1,localhost,::1");
  expect(env.no_proxy).toBe("127.0.0.1,localhost,::1");
});
