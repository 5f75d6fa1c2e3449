// An anchor for bench/gateway.ts: the plainest reverse proxy Bun can be (fetch and return),
// with none of the gateway's work. Usage: bun bench/bare-proxy.ts <port> <backend url>
const [port, target] = process.argv.slice(2) as [string, string];
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  fetch: (request) =>
    fetch(target + new URL(request.url).pathname, {
      method: request.method,
      headers: request.headers,
    }),
});
