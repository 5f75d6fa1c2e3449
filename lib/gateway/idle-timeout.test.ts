import { expect, test } from "bun:test";
import { BACKEND_TIMEOUT_MS, IDLE_TIMEOUT_S, idleTimeoutS } from "./server.ts";

test("a connection outlasts the app's time by more than the runtime's 4 s steps, so the 504 leaves first", () => {
  // Bun checks its idle limit every 4 s: at 8 s of idle limit, a request answered 504 at
  // 8 s found its connection already cut (measured on Bun 1.4.5); at 12 it was answered.
  for (const appTimeMs of [1_000, 8_000, BACKEND_TIMEOUT_MS, 60_000])
    expect(idleTimeoutS(appTimeMs)).toBeGreaterThanOrEqual(Math.ceil(appTimeMs / 1000) + 5);
  // Slow clients are never given less than the gateway's own limit.
  expect(idleTimeoutS(1_000)).toBe(IDLE_TIMEOUT_S);
});

test("an app's time past the runtime's most idle limit still starts a gateway", () => {
  const idle = idleTimeoutS(600_000);
  expect(idle).toBe(255);
  const server = Bun.serve({ port: 0, idleTimeout: idle, fetch: () => new Response("ok") });
  server.stop(true);
});
