/**
 * The app pipe's one look inside the bytes (docs/app-pipe.md, choice 1 (a)): the requests a
 * zone gateway writes on a connection to an app on this device, read head by head so that
 * who is signed in stays this device's to say. Each head loses every `bucky-*` and
 * `bucky_*` line; where the gateway's assertion (`bucky-app-user`) was, the reader leaves a
 * mark for the pipe to put the person the device checked; bodies pass as they come, found
 * by their framing. Responses are never read.
 *
 * Only Bun's fetch writes these bytes, after the gateway's own checks, so whatever it would
 * not write is refused rather than understood: a bare LF, a folded or colonless line, a
 * head over 64 KiB, Content-Length twice or with Transfer-Encoding, any coding but chunked,
 * chunk extensions or trailers, a body over the peer API's limit. A refusal throws, and the
 * pipe closes the connection: nothing after it reaches the app. Requests to upgrade (a
 * WebSocket) and CONNECT are refused too: after them the bytes would be another protocol's,
 * unread, and whether the app took the upgrade only its answer says. WebSockets keep the
 * ingress of lib/node/peer-ingress.ts.
 */
import { BuckyError } from "../errors.ts";
import { APP_USER_HEADER } from "./app-user.ts";

/** A head longer than this is refused (Bun.serve's own limit for a request head is 16 KiB). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line longer than this is refused (16 hex digits are 64 bits). */
const MAX_CHUNK_LINE_BYTES = 18;

/** What the pipe sends on: bytes as they are, or where the person's lines and the head's end go. */
export type RequestPart = Uint8Array | { readonly endOfHead: true; readonly assertion?: string };

const CRLF = Buffer.from("\r\n");

type State =
  | { readonly kind: "head" }
  | { readonly kind: "length"; left: number }
  | { readonly kind: "chunk-size" }
  | { readonly kind: "chunk-data"; left: number }
  | { readonly kind: "chunk-end" }
  | { readonly kind: "last-chunk-end" };

export class RequestHeads {
  private state: State = { kind: "head" };
  /** Bytes of a head or a line not complete yet. */
  private pending: Buffer | null = null;
  /** The current request's body bytes so far, chunked (a Content-Length is checked whole). */
  private chunkedBytes = 0;

  constructor(private readonly maxBodyBytes: number) {}

  /**
   * The parts to send on for `chunk`, in order; throws a BuckyError on what it refuses.
   * Byte parts may be views of `chunk`, which a socket reuses: send or copy them at once.
   */
  push(chunk: Uint8Array): RequestPart[] {
    const parts: RequestPart[] = [];
    // A socket's data is a Buffer already. Not through `chunk.buffer`: reading it makes Bun
    // give the socket's bytes an ArrayBuffer of their own, which doubled the pipe's CPU a
    // request (measured with bench/pipe.ts).
    let bytes = this.pending
      ? Buffer.concat([this.pending, chunk])
      : Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.pending = null;
    while (bytes.length > 0) {
      const used = this.step(bytes, parts);
      if (used === 0) {
        // A head or a line goes on in the next chunk: kept, copied (a socket reuses its buffer).
        this.pending = Buffer.from(bytes);
        break;
      }
      bytes = bytes.subarray(used);
    }
    return parts;
  }

  /** Reads what it can of `bytes` in the current state; how many bytes it used (0: more needed). */
  private step(bytes: Buffer, parts: RequestPart[]): number {
    const state = this.state;
    switch (state.kind) {
      case "length":
      case "chunk-data": {
        const take = Math.min(state.left, bytes.length);
        parts.push(bytes.subarray(0, take));
        state.left -= take;
        if (state.left === 0)
          this.state = state.kind === "length" ? { kind: "head" } : { kind: "chunk-end" };
        return take;
      }
      case "chunk-end":
      case "last-chunk-end": {
        if (bytes.length < 2) return 0;
        if (bytes[0] !== 13 || bytes[1] !== 10) throw refused("a chunk that does not end in CRLF");
        parts.push(CRLF);
        this.state = state.kind === "last-chunk-end" ? { kind: "head" } : { kind: "chunk-size" };
        return 2;
      }
      case "chunk-size":
        return this.chunkSize(bytes, parts);
      case "head":
        return this.head(bytes, parts);
    }
  }

  private chunkSize(bytes: Buffer, parts: RequestPart[]): number {
    const end = bytes.indexOf(CRLF);
    if (end < 0) {
      if (bytes.length > MAX_CHUNK_LINE_BYTES) throw refused("a chunk-size line too long");
      return 0;
    }
    const line = bytes.toString("latin1", 0, end);
    if (end === 0 || end > MAX_CHUNK_LINE_BYTES - 2 || !/^[0-9a-fA-F]+$/.test(line))
      throw refused(
        `a chunk size that is not hexadecimal digits alone: ${JSON.stringify(line.slice(0, 20))}`,
      );
    const size = Number.parseInt(line, 16);
    this.chunkedBytes += size;
    if (this.chunkedBytes > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
    parts.push(bytes.subarray(0, end + 2));
    // The last chunk has no trailers (Bun's fetch sends none): its CRLF must follow at once.
    this.state = size === 0 ? { kind: "last-chunk-end" } : { kind: "chunk-data", left: size };
    return end + 2;
  }

  private head(bytes: Buffer, parts: RequestPart[]): number {
    const end = bytes.indexOf("\r\n\r\n");
    if (end < 0) {
      if (bytes.length > MAX_HEAD_BYTES)
        throw refused(`a request head over ${MAX_HEAD_BYTES} bytes`);
      return 0;
    }
    if (end + 4 > MAX_HEAD_BYTES) throw refused(`a request head over ${MAX_HEAD_BYTES} bytes`);
    const requestLineEnd = bytes.indexOf(CRLF);
    const requestLine = bytes.toString("latin1", 0, requestLineEnd);
    if (!/^[A-Z]+ \S+ HTTP\/1\.1$/.test(requestLine) || requestLine.startsWith("CONNECT "))
      throw refused(
        `a request line Bun's fetch does not write: ${JSON.stringify(requestLine.slice(0, 80))}`,
      );
    if (hasLoneCrOrLf(bytes, end)) throw refused("a CR or LF that is not a line's CRLF");
    let kept = 0;
    let at = requestLineEnd + 2;
    let assertion: string | undefined;
    let length: number | undefined;
    let chunked = false;
    while (at < end + 2) {
      const eol = bytes.indexOf(CRLF, at);
      const first = bytes[at] as number;
      if (first === 32 || first === 9) throw refused("a folded header line");
      const colon = bytes.indexOf(0x3a, at);
      if (colon < 0 || colon > eol || colon === at)
        throw refused("a header line without a name and a colon");
      const name = bytes.toString("latin1", at, colon).toLowerCase();
      if (!/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(name))
        throw refused(`a header name that is not a token: ${JSON.stringify(name.slice(0, 40))}`);
      if (name.replaceAll("_", "-").startsWith("bucky-")) {
        if (name === APP_USER_HEADER) {
          if (assertion !== undefined) throw refused(`${APP_USER_HEADER} twice`);
          assertion = bytes.toString("latin1", colon + 1, eol).trim();
        }
        if (at > kept) parts.push(bytes.subarray(kept, at));
        kept = eol + 2;
      } else if (name === "content-length") {
        if (length !== undefined) throw refused("Content-Length twice");
        const value = bytes.toString("latin1", colon + 1, eol).trim();
        if (!/^[0-9]{1,12}$/.test(value)) throw refused("a Content-Length that is not a number");
        length = Number(value);
        if (length > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
      } else if (name === "transfer-encoding") {
        const value = bytes.toString("latin1", colon + 1, eol).trim();
        if (chunked || value.toLowerCase() !== "chunked")
          throw refused(
            `a transfer coding other than chunked: ${JSON.stringify(value.slice(0, 40))}`,
          );
        chunked = true;
      } else if (name === "upgrade") {
        throw refused("a request to upgrade the connection");
      }
      at = eol + 2;
    }
    if (chunked && length !== undefined) throw refused("Content-Length with Transfer-Encoding");
    // The head up to its last line's CRLF; the mark stands for the person's lines and the blank line.
    if (end + 2 > kept) parts.push(bytes.subarray(kept, end + 2));
    parts.push(assertion === undefined ? { endOfHead: true } : { endOfHead: true, assertion });
    this.chunkedBytes = 0;
    if (chunked) this.state = { kind: "chunk-size" };
    else if (length) this.state = { kind: "length", left: length };
    return end + 4;
  }
}

/** Whether the head's first `end` bytes hold a LF without a CR before it, or a CR without a LF after. */
function hasLoneCrOrLf(bytes: Buffer, end: number): boolean {
  for (let at = bytes.indexOf(10); at >= 0 && at < end; at = bytes.indexOf(10, at + 1))
    if (at === 0 || bytes[at - 1] !== 13) return true;
  for (let at = bytes.indexOf(13); at >= 0 && at < end; at = bytes.indexOf(13, at + 1))
    if (bytes[at + 1] !== 10) return true;
  return false;
}

function refused(what: string): BuckyError {
  return new BuckyError("E_INVALID_INPUT", `the app pipe refused ${what}`);
}

function tooLarge(limit: number): BuckyError {
  return new BuckyError("E_TOO_LARGE", `the app pipe refused a request body over ${limit} bytes`);
}
