/**
 * For tests of a server's idle limit (Bun.serve's idleTimeout): a server under a limit,
 * HTTP clients that read at a set rate or stop reading, and a wait until the server lets
 * an answer go. The clients speak HTTP/1.1 over a plain socket they pace by pausing, so
 * the server meets real backpressure (a fetch() may take in a body faster than its reader
 * asks for it). Over a Unix socket the kernel holds little of an answer in between (a few
 * hundred KiB, not the MiBs of TCP on loopback), so what a reader paces is what the server
 * writes.
 */
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import type { Server } from "bun";

/** Where the server listens: a Unix socket, or a TCP port on 127.0.0.1. */
export type ServerAddress = { readonly unix: string } | { readonly port: number };

let socketsMade = 0;

/**
 * A server answering with `fetch` under an idle limit of `limitS`: on TCP, as the gateway
 * and the peer server listen, or on a Unix socket in `dir`. Stop it when done.
 */
export function serveUnderLimit(
  on: "tcp" | "unix",
  limitS: number,
  fetch: (request: Request, server: Server<unknown>) => Response | Promise<Response>,
  dir: string,
): { address: ServerAddress; server: Server<unknown> } {
  if (on === "tcp") {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: limitS, fetch });
    return { address: { port: server.port as number }, server };
  }
  const unix = join(dir, `idle-limit-${++socketsMade}.sock`);
  // Bun's types give idleTimeout to TCP servers alone; a Unix one keeps it (lib/node/node.ts).
  const server = Bun.serve({ unix, fetch, ...({ idleTimeout: limitS } as object) });
  return { address: { unix }, server };
}

/** Waits until `server` holds no request; fails after `timeoutMs`. */
export async function untilLetGo(server: Server<unknown>, timeoutMs: number): Promise<void> {
  const startMs = performance.now();
  while (server.pendingRequests > 0) {
    if (performance.now() - startMs > timeoutMs)
      throw new Error(`the server still held the answer after ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}

function open(address: ServerAddress, onOpen: () => void): Socket {
  return "unix" in address
    ? connect({ path: address.unix }, onOpen)
    : connect({ host: "127.0.0.1", port: address.port }, onOpen);
}

/** An answer as a client received it; `body` only when it came whole. */
export interface ReceivedAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, once whole by its Content-Length or its chunked framing; else undefined. */
  readonly body: Uint8Array | undefined;
  /** The body's bytes that came before the connection ended (for a cut one). */
  readonly bodyBytes: number;
}

/** GETs `path` from the server at `address`, reading `bytesPerSecond`. */
export function readSlowly(
  address: ServerAddress,
  path: string,
  bytesPerSecond: number,
): Promise<ReceivedAnswer> {
  return new Promise((resolve) => {
    const startMs = performance.now();
    const parts: Buffer[] = [];
    let got = 0;
    const socket = open(address, () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`),
    );
    socket.on("data", (data: Buffer) => {
      parts.push(data);
      got += data.length;
      const aheadMs = startMs + (got / bytesPerSecond) * 1000 - performance.now();
      if (aheadMs > 0) {
        socket.pause();
        setTimeout(() => socket.resume(), aheadMs);
      }
    });
    // A reset ends it as well as a close does: what came is judged below.
    socket.on("error", () => {});
    socket.on("close", () => resolve(parseAnswer(Buffer.concat(parts))));
  });
}

/**
 * GETs `path` from the server at `address`, reads `bytes` of the answer, then reads no
 * more (the socket left open). Destroy the socket when done.
 */
export function readThenStop(address: ServerAddress, path: string, bytes: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const socket = open(address, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`));
    socket.on("data", (data: Buffer) => {
      got += data.length;
      if (got < bytes) return;
      socket.pause();
      resolve(socket);
    });
    socket.on("error", () => {});
    socket.on("close", () => reject(new Error(`the connection ended after ${got} bytes`)));
  });
}

function parseAnswer(received: Buffer): ReceivedAnswer {
  const headEnd = received.indexOf("\r\n\r\n");
  if (headEnd < 0) return { status: 0, headers: {}, body: undefined, bodyBytes: 0 };
  const [statusLine, ...lines] = received.subarray(0, headEnd).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = received.subarray(headEnd + 4);
  const status = Number(statusLine?.split(" ")[1]);
  if (headers["transfer-encoding"] === "chunked") return { status, headers, ...unchunked(rest) };
  const length = Number(headers["content-length"] ?? 0);
  return {
    status,
    headers,
    body: rest.length === length ? new Uint8Array(rest) : undefined,
    bodyBytes: rest.length,
  };
}

/** A chunked body's bytes: whole when its last (empty) chunk came. */
function unchunked(framed: Buffer): { body: Uint8Array | undefined; bodyBytes: number } {
  const parts: Buffer[] = [];
  let bodyBytes = 0;
  let at = 0;
  for (;;) {
    const lineEnd = framed.indexOf("\r\n", at);
    if (lineEnd < 0) break;
    const size = Number.parseInt(framed.subarray(at, lineEnd).toString("latin1"), 16);
    if (size === 0) return { body: new Uint8Array(Buffer.concat(parts)), bodyBytes };
    const part = framed.subarray(lineEnd + 2, lineEnd + 2 + size);
    parts.push(part);
    bodyBytes += part.length;
    if (part.length < size) break;
    at = lineEnd + 2 + size + 2;
  }
  return { body: undefined, bodyBytes };
}
