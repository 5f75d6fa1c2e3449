// An anchor for bench/gateway.ts: the plainest reverse proxy Bun can be (fetch and return),
// with none of the gateway's work. Usage: bun bench/bare-proxy.ts <port> <backend url>,
// where the backend is `http://host:port` or `unix:<socket>` (a sandboxed app's door).
const [port, target] = process.argv.slice(2) as [string, string];
const unix = target.startsWith("unix:") ? target.slice("unix:".length) : undefined;
const base = unix ? "http://app" : target;
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  fetch: (request) =>
    fetch(base + new URL(request.url).pathname, {
      method: request.method,
      headers: request.headers,
      ...(unix ? { unix } : {}),
    } as RequestInit),
});
