/**
 * How the CLI talks to the daemon of a home: HTTP over the home's Unix socket. Errors the
 * daemon reports come back as the same BuckyError; a daemon that is not running is
 * "unavailable" with a hint to start it.
 */

import { existsSync } from "node:fs";
import { BuckyError, isErrorCode } from "../errors.ts";
import { homePaths } from "../home.ts";

export const DAEMON_TIMEOUT_MS = 30_000;

/** The errors requestDaemon made because nothing answered on the socket. */
const notRunning = new WeakSet<BuckyError>();

/** Whether `error` says the home's daemon is not running (nothing answered at all). */
export function isDaemonDown(error: unknown): boolean {
  return error instanceof BuckyError && notRunning.has(error);
}

export async function requestDaemon<T = unknown>(
  home: string,
  method: "GET" | "PUT" | "POST" | "DELETE",
  path: string,
  /**
   * JSON, or raw bytes (an uploaded archive): a Blob is sent as it is read, so a file's
   * (`Bun.file(path)`) is never held whole.
   */
  body?: unknown,
  timeoutMs = DAEMON_TIMEOUT_MS,
): Promise<T> {
  const socket = homePaths(home).daemonSocket;
  // No socket, no daemon: said at once, without starting the runtime's HTTP client (a
  // thread and about a millisecond of `bucky status` with no node running).
  if (!existsSync(socket)) throw daemonDown(home);
  let response: Response;
  try {
    response = await fetch(`http://localhost${path}`, {
      method,
      unix: socket,
      ...(body === undefined
        ? {}
        : body instanceof Uint8Array || body instanceof Blob
          ? { body }
          : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw daemonDown(home, error);
  }
  const payload = (await response.json().catch(() => undefined)) as
    | { error?: { code: string; message: string; hint?: string } }
    | undefined;
  if (response.ok) return payload as T;
  const error = payload?.error;
  const code = isErrorCode(error?.code) ? error.code : "E_INTERNAL";
  throw new BuckyError(
    code,
    error?.message ?? `the daemon answered HTTP ${response.status}`,
    error?.hint,
  );
}

/** The error that says nothing answered on the home's socket (see isDaemonDown). */
function daemonDown(home: string, cause?: unknown): BuckyError {
  const down = new BuckyError(
    "E_UNAVAILABLE",
    `the bucky daemon for ${home} is not running`,
    `Start it with \`bucky up --home ${home}\` (or \`bucky daemon --home ${home}\` in the foreground).`,
    cause === undefined ? undefined : { cause },
  );
  notRunning.add(down);
  return down;
}

/** A fetch that goes to the home's daemon (a request to any host is sent to it). */
export function daemonFetch(home: string): (request: Request) => Promise<Response> {
  const socket = homePaths(home).daemonSocket;
  return async (request) => {
    const url = new URL(request.url);
    try {
      return await fetch(`http://localhost${url.pathname}${url.search}`, {
        method: request.method,
        headers: request.headers,
        ...(request.body ? { body: await request.arrayBuffer() } : {}),
        unix: socket,
      });
    } catch (error) {
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the bucky daemon for ${home} is not running`,
        `Start it with \`bucky up --home ${home}\`.`,
        { cause: error },
      );
    }
  };
}
