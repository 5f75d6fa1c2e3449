/**
 * An anchor for bench/gateway.ts: the lowest a Bun proxy can go, below `fetch`. Bun.serve
 * in front; towards the app, kept-alive Bun.connect sockets and a minimal HTTP/1.1 reader
 * (GET only, responses with a Content-Length). Not safe for anything real (it checks
 * nothing a response could smuggle); it shows what a hand-made forwarder would gain.
 * Usage: bun bench/raw-proxy.ts <port> <backend url>, the backend `http://host:port` or
 * `unix:<socket>`.
 */
import type { Socket } from "bun";

const [port, target] = process.argv.slice(2) as [string, string];
const where = target.startsWith("unix:")
  ? { unix: target.slice("unix:".length) }
  : { hostname: new URL(target).hostname, port: Number(new URL(target).port) };

interface Conn {
  socket: Socket<Conn>;
  buffer: Uint8Array | null;
  answer: ((response: Response) => void) | null;
  fail: ((error: unknown) => void) | null;
}
const idle: Conn[] = [];
const decoder = new TextDecoder();

function read(conn: Conn): void {
  const bytes = conn.buffer as Uint8Array;
  let end = -1;
  for (let i = 3; i < bytes.length; i++)
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      end = i + 1;
      break;
    }
  if (end < 0) return;
  const lines = decoder.decode(bytes.subarray(0, end - 4)).split("\r\n");
  const status = Number(lines[0]?.slice(9, 12));
  const headers = new Headers();
  let length = -1;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "content-length") length = Number(value);
    else if (name !== "connection" && name !== "keep-alive") headers.append(name, value);
  }
  if (length < 0 || bytes.length < end + length) return;
  const body = bytes.slice(end, end + length);
  const answer = conn.answer;
  conn.buffer = null;
  conn.answer = null;
  conn.fail = null;
  idle.push(conn);
  answer?.(new Response(body, { status, headers }));
}

function connect(): Promise<Conn> {
  return new Promise((resolve, reject) => {
    Bun.connect<Conn>({
      ...where,
      socket: {
        open(socket) {
          socket.data = { socket, buffer: null, answer: null, fail: null };
          resolve(socket.data);
        },
        data(socket, chunk) {
          const conn = socket.data;
          conn.buffer = conn.buffer ? Buffer.concat([conn.buffer, chunk]) : chunk;
          read(conn);
        },
        close: (socket) => socket.data?.fail?.(new Error("closed")),
        error: (socket, error) => socket.data?.fail?.(error),
        connectError: (_socket, error) => reject(error),
      },
    } as Parameters<typeof Bun.connect<Conn>>[0]).catch(reject);
  });
}

Bun.serve({
  hostname: "127.0.0.1",
  port: Number(port),
  async fetch(request) {
    const conn = idle.pop() ?? (await connect());
    const url = new URL(request.url);
    let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: app\r\n`;
    for (const [name, value] of request.headers)
      if (name !== "host" && name !== "connection") head += `${name}: ${value}\r\n`;
    return new Promise<Response>((resolve, reject) => {
      conn.answer = resolve;
      conn.fail = reject;
      conn.socket.write(`${head}\r\n`);
    });
  },
});
