/**
 * A request's body read within a bound: whole (at most `maxBytes`), as a stream that
 * stops past it, or into a file. The bound holds whatever Content-Length says, and for a
 * chunked body, which says nothing: the bytes are counted as they arrive, and past the
 * bound the body is cancelled (no more of it is read) and the request refused with
 * E_TOO_LARGE. Each route names its own bound, from what it legitimately takes.
 */
import { open, rm } from "node:fs/promises";
import { BuckyError } from "../errors.ts";

/**
 * The most the local API's server lets any request send, above each route's own bound
 * (the largest: a catalog file, 1 GiB and its tar headers): without it, Bun's default
 * (128 MiB) would refuse a catalog file before its route could.
 */
export const MAX_LOCAL_BODY_BYTES = 1536 * 1024 * 1024;

/** A JSON request of the local and app APIs, at most: a state value is 64 KiB. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/** The refusal of a body over `maxBytes`. */
export function tooLarge(maxBytes: number, what = "a request's body"): BuckyError {
  return new BuckyError(
    "E_TOO_LARGE",
    `${what} is over ${maxBytes} bytes, the most this takes`,
    "Nothing was kept. Send less: the bound is the same whatever the request says of its size.",
  );
}

/**
 * The body's chunks as they arrive, refusing (and cancelling the body) once more than
 * `maxBytes` have come, or at once when Content-Length says more. Stopping early, as a
 * refusing reader does, cancels the body too.
 */
export async function* boundedChunks(
  request: Request,
  maxBytes: number,
  what?: string,
): AsyncGenerator<Uint8Array> {
  if (Number(request.headers.get("content-length") ?? 0) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes, what);
  }
  if (!request.body) return;
  const reader = request.body.getReader();
  let sizeBytes = 0;
  try {
    for (;;) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (error) {
        throw new BuckyError(
          "E_USAGE",
          `the request body could not be read: ${(error as Error).message || "it broke off"}`,
          undefined,
          { cause: error },
        );
      }
      if (next.done) return;
      sizeBytes += next.value.length;
      if (sizeBytes > maxBytes) throw tooLarge(maxBytes, what);
      yield next.value;
    }
  } finally {
    // Refused, failed or left early: the rest of the body is not read.
    await reader.cancel().catch(() => {});
  }
}

/** The body whole, at most `maxBytes` (see boundedChunks). */
export async function readBody(
  request: Request,
  maxBytes: number,
  what?: string,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of boundedChunks(request, maxBytes, what)) chunks.push(chunk);
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
}

/** The body written as the new file `path`, at most `maxBytes`; no file is left on a refusal. */
export async function writeBody(
  request: Request,
  path: string,
  maxBytes: number,
  what?: string,
): Promise<number> {
  const file = await open(path, "wx", 0o600);
  let sizeBytes = 0;
  try {
    for await (const chunk of boundedChunks(request, maxBytes, what)) {
      await file.write(chunk);
      sizeBytes += chunk.length;
    }
  } catch (error) {
    await file.close();
    await rm(path, { force: true });
    throw error;
  }
  await file.close();
  return sizeBytes;
}
