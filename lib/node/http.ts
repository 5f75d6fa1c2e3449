/**
 * What the daemon's two HTTP apps share: errors as `{"error": {code, message, hint}}`
 * with the status from the one error table, and one line per completed request: info
 * when it succeeded, warn (an ordinary error) with the reason when it was refused.
 */
import type { Context, MiddlewareHandler } from "hono";
import { BuckyError, isPassing, toBuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { MAX_JSON_BODY_BYTES, readBody } from "./request-body.ts";

/**
 * Reports a failed request. A BuckyError is an ordinary failure, and so is a full disk or
 * a database another process holds past the wait for it; anything else is a bug, and `onBug`
 * is told (with the request) so the daemon can crash rather than carry on in a state nobody
 * planned for.
 */
export function errorHandler(log: Log, onBug: (error: unknown, request: Request) => void) {
  return (thrown: Error, c: Context) => {
    const error = refusalOf(thrown, c.req.path, log, (bug) => onBug(bug, c.req.raw));
    c.set(REFUSAL as never, error as never);
    return c.json({ error: error.toJSON() }, error.httpStatus as 400, retryHeaders(error));
  };
}

/**
 * What a request that threw is answered with, as a BuckyError; anything but a BuckyError
 * or a passing failure is a bug, logged and told to `onBug`.
 */
export function refusalOf(
  thrown: unknown,
  path: string,
  log: Log,
  onBug: (error: unknown) => void,
): BuckyError {
  const error = toBuckyError(thrown);
  if (!(thrown instanceof BuckyError) && !isPassing(thrown)) {
    log.fatal("unexpected error while serving a request", {
      path,
      error: (thrown as Error)?.stack ?? String(thrown),
    });
    onBug(thrown);
  }
  return error;
}

/** The answer to a refused request: `{"error": {code, message, hint}}` with its status. */
export function refusalResponse(error: BuckyError): Response {
  return Response.json(
    { error: error.toJSON() },
    { status: error.httpStatus, headers: retryHeaders(error) },
  );
}

/** Retry-After for a refusal that says when to try again, so a client can wait it out. */
function retryHeaders(error: BuckyError): Record<string, string> {
  return error.retryAfterS === undefined ? {} : { "retry-after": String(error.retryAfterS) };
}

/** The line logged for a request that was answered (info) or refused (warn, with why). */
export function logRequest(
  log: Log,
  fields: { api: string; method: string; path: string; status: number; ms: number; peer?: string },
  refusal: BuckyError | undefined,
): void {
  // A client over its pace is told once a run of refusals by what paces it (WritePace): a
  // line for each would let a client in a loop fill the log instead.
  if (refusal?.code === "E_RATE_LIMITED")
    log.debug("request refused", { ...fields, code: refusal.code });
  else if (refusal)
    log.warn("request refused", {
      ...fields,
      code: refusal.code,
      error: refusal.message,
      // What a library said, when our words stand in for it.
      cause: causeOf(refusal),
    });
  else log.info("request", fields);
}

/** The words of a library's error a refusal was made from, if any, for the log. */
function causeOf(refusal: BuckyError): string | undefined {
  const cause = refusal.cause;
  if (cause === undefined || cause instanceof BuckyError) return undefined;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Where errorHandler leaves the error for requestLog. */
const REFUSAL = "refusal";

/** One line per completed request: method, path, status, duration, who asked, and why not. */
export function requestLog(log: Log, api: string): MiddlewareHandler {
  return async (c, next) => {
    const startMs = performance.now();
    await next();
    const refusal = c.get(REFUSAL as never) as BuckyError | undefined;
    const fields = {
      api,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - startMs) * 10) / 10,
      peer: (c.get("peer" as never) as string | undefined) ?? undefined,
    };
    logRequest(log, fields, refusal);
  };
}

/**
 * Reads each request's body first, whole, up to `maxBytes` (lib/node/request-body.ts): one
 * over it is refused with E_TOO_LARGE (413), whatever it says of its size, and one that
 * breaks off (the client hung up) as such, not met later as a bug. Paths under `streamed`
 * keep theirs as a stream (app traffic, limited where it enters).
 */
export function boundedBody(maxBytes: number, streamed: string): MiddlewareHandler {
  return async (c, next) => {
    if (!c.req.raw.body || c.req.path.startsWith(streamed)) return next();
    const body = await readBody(c.req.raw, maxBytes);
    c.req.raw = new Request(c.req.raw, { body });
    await next();
  };
}

/**
 * Reads a JSON request body of at most `maxBytes` (E_TOO_LARGE past it, chunked or not),
 * or fails with a usage error that says what was wrong.
 */
export async function jsonBody(c: Context, maxBytes = MAX_JSON_BODY_BYTES): Promise<unknown> {
  const bytes = await readBody(c.req.raw, maxBytes, "a JSON request");
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new BuckyError("E_USAGE", "the request body is not JSON");
  }
}

/**
 * Reads a JSON request body that must be an object (`{…}`), as every route that takes
 * fields does: `null`, an array or a bare value is a usage error that says so, not a
 * TypeError met when a field is read. Each field is still checked where it is read.
 */
export async function jsonObject(
  c: Context,
  maxBytes = MAX_JSON_BODY_BYTES,
): Promise<Readonly<Record<string, unknown>>> {
  const body = await jsonBody(c, maxBytes);
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new BuckyError(
      "E_USAGE",
      `the request body is ${body === null ? "null" : Array.isArray(body) ? "an array" : `a ${typeof body}`}, not a JSON object`,
    );
  return body as Record<string, unknown>;
}
