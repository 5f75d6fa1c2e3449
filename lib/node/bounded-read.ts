/**
 * An HTTP body, a request's or an answer's, read within a bound as it arrives. The bound
 * holds whatever Content-Length says, and for a chunked or compressed body, which says
 * nothing of what it comes to: the bytes are counted as they arrive, and past the bound
 * the body is cancelled (no more of it is read). A reader given an idle time also gives up
 * on a body that stops coming for that long (a registry that stalls in the middle of a
 * blob), and cancels it. A body that breaks off is said as such by the caller's words,
 * never thrown as the runtime's own error (which the daemon would take for a bug of its
 * own). Each reader names its bound and its words.
 */

/** What a bounded read throws, in the caller's words. */
export interface BoundedReadWords {
  /** More than the bound came, or Content-Length said more (`declaredBytes`, then). */
  tooLarge(declaredBytes?: number): unknown;
  /** The body broke off (the other side stopped, the network failed, time ran out). */
  brokeOff(error: unknown): unknown;
  /**
   * Nothing came for the read's `idleMs`. Without these words, the body broke off with a
   * TimeoutError.
   */
  stalled?(idleMs: number): unknown;
}

export interface BoundedReadOptions {
  /** How long a body may stay silent between two chunks; no limit when not given. */
  readonly idleMs?: number;
  /** Told the size of each chunk as it arrives (a watch on how the body comes). */
  readonly progress?: (bytes: number) => void;
}

/** The chunks of `message`'s body as they arrive, at most `maxBytes` of them. */
export async function* chunksWithin(
  message: Request | Response,
  maxBytes: number,
  words: BoundedReadWords,
  options: BoundedReadOptions = {},
): AsyncGenerator<Uint8Array> {
  const declaredBytes = Number(message.headers.get("content-length") ?? 0);
  if (declaredBytes > maxBytes) {
    if (!(message instanceof Request)) await message.body?.cancel().catch(() => {});
    throw words.tooLarge(declaredBytes);
  }
  if (!message.body) return;
  const reader = message.body.getReader();
  let sizeBytes = 0;
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>> | typeof STALLED;
      try {
        next = await within(reader.read(), options.idleMs);
      } catch (error) {
        throw words.brokeOff(error);
      }
      if (next === STALLED) {
        const idleMs = options.idleMs as number;
        throw words.stalled
          ? words.stalled(idleMs)
          : words.brokeOff(new DOMException(`nothing came for ${idleMs} ms`, "TimeoutError"));
      }
      if (next.done) return;
      sizeBytes += next.value.length;
      options.progress?.(next.value.length);
      if (sizeBytes > maxBytes) throw words.tooLarge();
      yield next.value;
    }
  } finally {
    // Refused, failed or left early: the rest of the body is not read. An answer's body is
    // cancelled, which stops its transfer. A request's is let go unread (above too): Bun's
    // server, its body cancelled, reads the rest to throw it away, counting it against its
    // own bound, and answers a bare 413 if that comes before this refusal's answer is out
    // (measured: a refusal answered 200 ms after the cancel lost to it). Unread, the sender
    // is held back until the answer is out, and the connection then closed.
    if (message instanceof Request) reader.releaseLock();
    else await reader.cancel().catch(() => {});
  }
}

/**
 * `message`'s body whole, at most `maxBytes` (see chunksWithin), in bytes of its own: a
 * buffer of exactly its length, as `arrayBuffer()` would give.
 */
export async function bytesWithin(
  message: Request | Response,
  maxBytes: number,
  words: BoundedReadWords,
  options: BoundedReadOptions = {},
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let sizeBytes = 0;
  for await (const chunk of chunksWithin(message, maxBytes, words, options)) {
    chunks.push(chunk);
    sizeBytes += chunk.length;
  }
  const only = chunks[0];
  if (
    chunks.length === 1 &&
    only &&
    only.byteOffset === 0 &&
    only.byteLength === only.buffer.byteLength
  )
    return only;
  const bytes = new Uint8Array(sizeBytes);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/**
 * `message`'s body read into `into` (at most its length, which is the bound): the part of
 * `into` it filled. For a caller that reuses one buffer for answer after answer, so that no
 * answer's bytes land in memory never touched before, which costs far more than the copy
 * (measured: a 4 MiB copy into a fresh buffer 10–17× one into a reused one here).
 */
export async function bytesInto(
  message: Request | Response,
  into: Uint8Array,
  words: BoundedReadWords,
  options: BoundedReadOptions = {},
): Promise<Uint8Array> {
  let at = 0;
  for await (const chunk of chunksWithin(message, into.length, words, options)) {
    into.set(chunk, at);
    at += chunk.length;
  }
  return into.subarray(0, at);
}

const STALLED = Symbol("stalled");

/** What `read` gives, or STALLED when it gives nothing within `idleMs` (if given). */
async function within<T>(
  read: Promise<T>,
  idleMs: number | undefined,
): Promise<T | typeof STALLED> {
  if (idleMs === undefined) return read;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const silence = new Promise<typeof STALLED>((resolve) => {
    timer = setTimeout(() => resolve(STALLED), idleMs);
  });
  try {
    // A read left behind ends when the body is cancelled (chunksWithin, finally).
    return await Promise.race([read, silence]);
  } finally {
    clearTimeout(timer);
  }
}
