/**
 * How the CLI talks to the daemon of a home: HTTP over the home's Unix socket. Errors the
 * daemon reports come back as the same BuckyError; a daemon that is not running is
 * "unavailable" with a hint to start it, and one that is but does not answer in time is
 * "unavailable" too, said as such: what was asked may be done yet, so a caller that would
 * do it itself when no daemon runs (isDaemonDown) must not.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { BuckyError, isErrorCode } from "../errors.ts";
import { homePaths } from "../home.ts";

export const DAEMON_TIMEOUT_MS = 30_000;

/** The errors requestDaemon made because nothing answered on the socket. */
const notRunning = new WeakSet<BuckyError>();

/**
 * The errors requestDaemon made because the daemon took the request and gave no whole
 * answer: not in time, or it went away while answering.
 */
const notAnswering = new WeakSet<BuckyError>();

/** Whether `error` says the home's daemon is not running (nothing answered at all). */
export function isDaemonDown(error: unknown): boolean {
  return error instanceof BuckyError && notRunning.has(error);
}

/**
 * Whether `error` says the home's daemon took the request and gave no whole answer: it did
 * not answer within the time given (it runs, busy or stuck), or went away while answering.
 * What was asked may be done, or may still be.
 */
export function isDaemonSilent(error: unknown): boolean {
  return error instanceof BuckyError && notAnswering.has(error);
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
    throw cutShort(error) ?? daemonDown(home, error);
  }
  const payload = (await response.json().catch((error: unknown) => {
    // An answer that began and did not end is no answer, not an empty one; one that is not
    // JSON (an empty body) is read as none, as before.
    const cut = cutShort(error);
    if (cut) throw cut;
    return undefined;
  })) as { error?: { code: string; message: string; hint?: string } } | undefined;
  if (response.ok) return payload as T;
  const error = payload?.error;
  const code = isErrorCode(error?.code) ? error.code : "E_INTERNAL";
  throw new BuckyError(
    code,
    error?.message ?? `the daemon answered HTTP ${response.status}`,
    error?.hint,
  );

  /**
   * The error for a request the daemon took and gave no whole answer to, if `error` is
   * one: the time ran out, or the connection broke after it was made (the daemon went
   * away while at it). A socket nobody listens on is no such thing: no daemon runs.
   */
  function cutShort(error: unknown): BuckyError | undefined {
    if (!(error instanceof Error)) return undefined;
    if (error.name === "TimeoutError")
      return daemonSilent(
        home,
        `did not answer within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}`,
        "It runs, but is busy or stuck",
        error,
      );
    const code = (error as { code?: unknown }).code;
    if (code === "ECONNRESET" || code === "EPIPE")
      return daemonSilent(home, "stopped while answering", "It may have crashed", error);
    return undefined;
  }
}

/** The error that says nothing answered on the home's socket (see isDaemonDown). */
function daemonDown(home: string, cause?: unknown): BuckyError {
  // Its daemon stopped for good (the owner revoked the device, kept in `<home>/revoked`, see
  // lib/zone/revoked-here.ts, not loaded here for every command): starting it fails alike.
  const down = existsSync(join(home, "revoked"))
    ? new BuckyError(
        "E_REVOKED",
        `this device was revoked by the zone's owner: its daemon does not run in ${home}`,
        "`bucky status` says when. To use this machine in the zone again, ask for a new invitation and join it into a new home under a new name (`bucky join <token> --home <dir> --device <name>`).",
        cause === undefined ? undefined : { cause },
      )
    : new BuckyError(
        "E_UNAVAILABLE",
        `the bucky daemon for ${home} is not running`,
        `Start it with \`bucky up --home ${home}\` (or \`bucky daemon --home ${home}\` in the foreground).`,
        cause === undefined ? undefined : { cause },
      );
  notRunning.add(down);
  return down;
}

/** The error that says the daemon took the request and gave no whole answer (see isDaemonSilent). */
function daemonSilent(home: string, what: string, why: string, cause: unknown): BuckyError {
  const silent = new BuckyError(
    "E_UNAVAILABLE",
    `the bucky daemon for ${home} ${what}`,
    `${why}: what was asked may have been done, or may still be. See \`bucky status --home ${home}\` before asking again; \`bucky stop --home ${home}\` then \`bucky up --home ${home}\` restarts it.`,
    { cause },
  );
  notAnswering.add(silent);
  return silent;
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
