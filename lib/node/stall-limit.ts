/**
 * A response that may outlast a server's idle limit, given one of its own: a limit on how
 * long it may stall. Bun.serve's idleTimeout (and server.timeout) counts only the bytes a
 * connection reads, not those it writes, and is not moved once the answer has begun
 * (measured on Bun 1.4.5: an answer streaming a chunk every 250 ms under a limit of 2 s was
 * cut at 4 s, calling server.timeout on each chunk or not): a download through the gateway
 * lasting longer than its 30 s was cut mid-transfer, one from a device's peer server past
 * its 60. Such an answer has the server's limit taken off (server.timeout(request, 0)) and
 * is ended here instead when no chunk has moved for `stallMs`: a client that stops
 * reading, or an app that stops sending, is given up on as before, one that goes on is not.
 */
import type { Server } from "bun";

/**
 * How long the peer servers keep a connection on which nothing moves (Bun.serve's own
 * limit is 10 s): a relayed download stalled by the relay's or the caller's machine
 * pausing that long (a laptop's brief sleep, a loop blocked by load) was cut at 10 s,
 * the transfer reset mid-stream. A relayed stream to a relay that is gone ends sooner,
 * with its tunnel (lib/relay/tunnel.ts); this bounds one to a caller that went silent
 * (an answer longer than that is stall-limited: below).
 */
export const PEER_IDLE_TIMEOUT_S = 60;

/** Answers of up to this many declared bytes are written within any idle limit, unwatched. */
export const SMALL_ANSWER_BYTES = 64 * 1024;

/** Whether `response` may take longer to write than the server's idle limit allows. */
export function mayOutlastIdleLimit(response: Response): boolean {
  if (!response.body) return false;
  const declared = response.headers.get("content-length");
  return declared === null || !(Number(declared) <= SMALL_ANSWER_BYTES);
}

/** `body`, as `request`'s answer on `server`, ended when no chunk moved for `stallMs`. */
export function stallLimited(
  server: Pick<Server<unknown>, "timeout">,
  request: Request,
  body: ReadableStream<Uint8Array>,
  stallMs: number,
): ReadableStream<Uint8Array> {
  server.timeout(request, 0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let controller: TransformStreamDefaultController<Uint8Array> | undefined;
  const stalled = () => {
    try {
      controller?.error(new Error(`the answer stalled for ${stallMs / 1000} s`));
    } catch {
      // Already ended.
    }
  };
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(stalled, stallMs);
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        controller = c;
        arm();
      },
      transform(chunk, c) {
        arm();
        c.enqueue(chunk);
      },
      flush() {
        clearTimeout(timer);
      },
      cancel() {
        clearTimeout(timer);
      },
    } as Transformer<Uint8Array, Uint8Array>),
  );
}
