/**
 * A request's body read within a bound: whole (at most `maxBytes`), as a stream that
 * stops past it, or into a file. The bound holds whatever Content-Length says, and for a
 * chunked body, which says nothing: the bytes are counted as they arrive, and past the
 * bound the body is cancelled (no more of it is read) and the request refused with
 * E_TOO_LARGE. Each route names its own bound, from what it legitimately takes.
 */
import { open, rm } from "node:fs/promises";
import { BuckyError } from "../errors.ts";
import { type BoundedReadWords, bytesWithin, chunksWithin } from "./bounded-read.ts";

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
 * `maxBytes` have come, or at once when Content-Length says more (lib/node/bounded-read.ts).
 */
export function boundedChunks(
  request: Request,
  maxBytes: number,
  what?: string,
): AsyncGenerator<Uint8Array> {
  return chunksWithin(request, maxBytes, requestWords(maxBytes, what));
}

/** The body whole, at most `maxBytes` (see boundedChunks). */
export async function readBody(
  request: Request,
  maxBytes: number,
  what?: string,
): Promise<Uint8Array> {
  return bytesWithin(request, maxBytes, requestWords(maxBytes, what));
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

/** A request body's refusals: too large (E_TOO_LARGE), or broken off by its client. */
function requestWords(maxBytes: number, what?: string): BoundedReadWords {
  return {
    tooLarge: () => tooLarge(maxBytes, what),
    brokeOff: (error) =>
      new BuckyError(
        "E_USAGE",
        `the request body could not be read: ${(error as Error).message || "it broke off"}`,
        undefined,
        { cause: error },
      ),
  };
}
