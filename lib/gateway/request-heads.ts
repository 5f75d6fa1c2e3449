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

/**
 * What the pipe sends on: bytes as they are, or the place, just before a head's blank line,
 * where the person an assertion stands for is written. Bytes that lie side by side in a
 * chunk come as one part: a request with no `bucky-*` line is one view of the chunk it came
 * in, with nothing joined or copied.
 */
export type RequestPart = Uint8Array | { readonly assertion: string };

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");
const COLON = 0x3a;

/** The bytes a header name may hold (RFC 9110's tchar), by byte value. */
const TOKEN = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TOKEN[c.charCodeAt(0)] = 1;

type State =
  | { readonly kind: "head" }
  | { readonly kind: "length"; left: number }
  | { readonly kind: "chunk-size" }
  | { readonly kind: "chunk-data"; left: number }
  | { readonly kind: "chunk-end" }
  | { readonly kind: "last-chunk-end" };

const HEAD: State = { kind: "head" };

export class RequestHeads {
  private state: State = HEAD;
  /**
   * Bytes of a head or a line not complete yet, in `held[0, heldLength)`, the rest of `held`
   * room for the next chunks: a head that comes a few bytes at a time is added to, not
   * joined anew with each chunk.
   */
  private held: Buffer | null = null;
  private heldLength = 0;
  /**
   * How much of the held head was already looked through for its end: the next look starts
   * there (less the three bytes an end split across chunks may have begun with), not at the
   * head's start. Together, a 64 KiB head sent a byte at a time costs about 64 KiB of work,
   * not 64K² bytes.
   */
  private headSearched = 0;
  /** The current request's body bytes so far, chunked (a Content-Length is checked whole). */
  private chunkedBytes = 0;
  /** Heads read whole so far: the requests on the connection. */
  private heads = 0;
  /** The bytes of the chunk being read (push's), and the run of them to send on as one part. */
  private bytes: Buffer = CRLF;
  private parts: RequestPart[] = [];
  private runFrom = 0;
  private runTo = 0;

  constructor(private readonly maxBodyBytes: number) {}

  /** How many request heads have been read whole. */
  get requests(): number {
    return this.heads;
  }

  /**
   * The parts to send on for `chunk`, in order; throws a BuckyError on what it refuses.
   * Byte parts may be views of `chunk`, which a socket reuses: send or copy them at once.
   */
  push(chunk: Uint8Array): RequestPart[] {
    // A socket's data is a Buffer already. Not through `chunk.buffer`: reading it makes Bun
    // give the socket's bytes an ArrayBuffer of their own, which doubled the pipe's CPU a
    // request (measured with bench/pipe.ts).
    const continued = this.heldLength > 0;
    const bytes = continued
      ? this.hold(chunk)
      : Buffer.isBuffer(chunk)
        ? chunk
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.heldLength = 0;
    this.bytes = bytes;
    this.parts = [];
    this.runFrom = 0;
    this.runTo = 0;
    let at = 0;
    while (at < bytes.length) {
      const next = this.step(at);
      if (next === at) {
        // A head or a line goes on in the next chunk. What was held and is still all of it
        // stays where it is; else it is copied to a new held buffer: a socket reuses its
        // buffer, and this chunk's parts may be views of the held one.
        if (continued && at === 0) this.heldLength = bytes.length;
        else {
          this.held = null;
          this.hold(bytes.subarray(at));
        }
        break;
      }
      at = next;
    }
    if (this.heldLength === 0) this.held = null;
    this.endRun();
    const parts = this.parts;
    this.parts = [];
    this.bytes = CRLF;
    return parts;
  }

  /**
   * The held bytes with `more` after them, in `held`. When full, it grows to twice what is
   * needed, but not past the head limit: a head waiting for its end (at most MAX_HEAD_BYTES,
   * else refused) is held in no more than that, and a chunk that ends it is copied into a
   * buffer of its own size, as joining them would.
   */
  private hold(more: Uint8Array): Buffer {
    const length = this.heldLength + more.length;
    if (this.held === null || this.held.length < length) {
      const room = Math.min(Math.max(2 * length, 1024), MAX_HEAD_BYTES);
      const grown = Buffer.allocUnsafe(Math.max(length, room));
      if (this.held !== null) this.held.copy(grown, 0, 0, this.heldLength);
      this.held = grown;
    }
    this.held.set(more, this.heldLength);
    this.heldLength = length;
    return this.held.subarray(0, length);
  }

  /** Sends `bytes[from, to)` on, in the same part as the bytes before when they touch. */
  private pass(from: number, to: number): void {
    if (from !== this.runTo) {
      this.endRun();
      this.runFrom = from;
    }
    this.runTo = to;
  }

  /** The run so far as one part: the chunk itself when it is all of it. */
  private endRun(): void {
    const { bytes, runFrom, runTo } = this;
    if (runTo > runFrom)
      this.parts.push(
        runFrom === 0 && runTo === bytes.length ? bytes : bytes.subarray(runFrom, runTo),
      );
    this.runFrom = runTo;
  }

  /** Reads what it can from `at` in the current state; where it stopped (`at`: more needed). */
  private step(at: number): number {
    const bytes = this.bytes;
    const state = this.state;
    switch (state.kind) {
      case "length":
      case "chunk-data": {
        const take = Math.min(state.left, bytes.length - at);
        this.pass(at, at + take);
        state.left -= take;
        if (state.left === 0) this.state = state.kind === "length" ? HEAD : { kind: "chunk-end" };
        return at + take;
      }
      case "chunk-end":
      case "last-chunk-end": {
        if (bytes.length - at < 2) return at;
        if (bytes[at] !== 13 || bytes[at + 1] !== 10)
          throw refused("a chunk that does not end in CRLF");
        this.pass(at, at + 2);
        this.state = state.kind === "last-chunk-end" ? HEAD : { kind: "chunk-size" };
        return at + 2;
      }
      case "chunk-size":
        return this.chunkSize(at);
      case "head":
        return this.head(at);
    }
  }

  private chunkSize(at: number): number {
    const bytes = this.bytes;
    const end = bytes.indexOf(CRLF, at);
    if (end < 0) {
      if (bytes.length - at > MAX_CHUNK_LINE_BYTES) throw refused("a chunk-size line too long");
      return at;
    }
    const line = bytes.toString("latin1", at, end);
    if (end === at || end - at > MAX_CHUNK_LINE_BYTES - 2 || !/^[0-9a-fA-F]+$/.test(line))
      throw refused(
        `a chunk size that is not hexadecimal digits alone: ${JSON.stringify(line.slice(0, 20))}`,
      );
    const size = Number.parseInt(line, 16);
    this.chunkedBytes += size;
    if (this.chunkedBytes > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
    this.pass(at, end + 2);
    // The last chunk has no trailers (Bun's fetch sends none): its CRLF must follow at once.
    this.state = size === 0 ? { kind: "last-chunk-end" } : { kind: "chunk-data", left: size };
    return end + 2;
  }

  /**
   * A head from `at`, read on bytes: the names are looked at in place, and only the values
   * that count (a length, a coding, an assertion) become strings.
   */
  private head(from: number): number {
    const bytes = this.bytes;
    const end = bytes.indexOf(HEAD_END, from + Math.max(0, this.headSearched - 3));
    this.headSearched = 0;
    if (end < 0) {
      if (bytes.length - from > MAX_HEAD_BYTES)
        throw refused(`a request head over ${MAX_HEAD_BYTES} bytes`);
      this.headSearched = bytes.length - from;
      return from;
    }
    if (end + 4 - from > MAX_HEAD_BYTES)
      throw refused(`a request head over ${MAX_HEAD_BYTES} bytes`);
    const requestLineEnd = bytes.indexOf(CRLF, from);
    const requestLine = bytes.toString("latin1", from, requestLineEnd);
    if (!/^[A-Z]+ \S+ HTTP\/1\.1$/.test(requestLine) || requestLine.startsWith("CONNECT "))
      throw refused(
        `a request line Bun's fetch does not write: ${JSON.stringify(requestLine.slice(0, 80))}`,
      );
    if (hasLoneCrOrLf(bytes, from, end)) throw refused("a CR or LF that is not a line's CRLF");
    let kept = from;
    let at = requestLineEnd + 2;
    let assertion: string | undefined;
    let length: number | undefined;
    let chunked = false;
    while (at < end + 2) {
      const eol = bytes.indexOf(CRLF, at);
      const first = bytes[at] as number;
      if (first === 32 || first === 9) throw refused("a folded header line");
      const colon = bytes.indexOf(COLON, at);
      if (colon < 0 || colon > eol || colon === at)
        throw refused("a header line without a name and a colon");
      for (let i = at; i < colon; i++)
        if (TOKEN[bytes[i] as number] === 0)
          throw refused(
            `a header name that is not a token: ${JSON.stringify(bytes.toString("latin1", at, Math.min(colon, at + 40)).toLowerCase())}`,
          );
      if (isBuckyName(bytes, at, colon)) {
        if (nameIs(bytes, at, colon, APP_USER_HEADER)) {
          if (assertion !== undefined) throw refused(`${APP_USER_HEADER} twice`);
          assertion = bytes.toString("latin1", colon + 1, eol).trim();
        }
        this.pass(kept, at);
        kept = eol + 2;
      } else if (nameIs(bytes, at, colon, "content-length")) {
        if (length !== undefined) throw refused("Content-Length twice");
        const value = bytes.toString("latin1", colon + 1, eol).trim();
        if (!/^[0-9]{1,12}$/.test(value)) throw refused("a Content-Length that is not a number");
        length = Number(value);
        if (length > this.maxBodyBytes) throw tooLarge(this.maxBodyBytes);
      } else if (nameIs(bytes, at, colon, "transfer-encoding")) {
        const value = bytes.toString("latin1", colon + 1, eol).trim();
        if (chunked || value.toLowerCase() !== "chunked")
          throw refused(
            `a transfer coding other than chunked: ${JSON.stringify(value.slice(0, 40))}`,
          );
        chunked = true;
      } else if (nameIs(bytes, at, colon, "upgrade")) {
        throw refused("a request to upgrade the connection");
      }
      at = eol + 2;
    }
    if (chunked && length !== undefined) throw refused("Content-Length with Transfer-Encoding");
    // The head up to its last line's CRLF, the person's place, then its blank line.
    if (assertion === undefined) {
      this.pass(kept, end + 4);
    } else {
      this.pass(kept, end + 2);
      this.endRun();
      this.parts.push({ assertion });
      this.pass(end + 2, end + 4);
    }
    this.heads += 1;
    this.chunkedBytes = 0;
    if (chunked) this.state = { kind: "chunk-size" };
    else if (length) this.state = { kind: "length", left: length };
    return end + 4;
  }
}

/**
 * Whether the name in `bytes[at, colon)` is bucky's: `bucky-` or `bucky_` and more, in any
 * case (isBuckyHeader's rule, on bytes).
 */
function isBuckyName(bytes: Buffer, at: number, colon: number): boolean {
  if (colon - at < 6 || ((bytes[at] as number) | 0x20) !== 0x62) return false;
  const separator = bytes[at + 5];
  return (separator === 0x2d || separator === 0x5f) && nameIs(bytes, at, at + 5, "bucky");
}

/**
 * Whether the token in `bytes[at, colon)` is `lower` (lower-case letters and `-`), in any
 * case. Setting 0x20 lowers a letter and leaves `-` as it is; of the other token bytes, only
 * a letter's own capital becomes a lower-case letter by it.
 */
function nameIs(bytes: Buffer, at: number, colon: number, lower: string): boolean {
  if (colon - at !== lower.length) return false;
  for (let i = 0; i < lower.length; i++)
    if (((bytes[at + i] as number) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Whether `bytes[from, end)` holds a LF without a CR before it, or a CR without a LF after. */
function hasLoneCrOrLf(bytes: Buffer, from: number, end: number): boolean {
  for (let at = bytes.indexOf(10, from); at >= 0 && at < end; at = bytes.indexOf(10, at + 1))
    if (at === from || bytes[at - 1] !== 13) return true;
  for (let at = bytes.indexOf(13, from); at >= 0 && at < end; at = bytes.indexOf(13, at + 1))
    if (bytes[at + 1] !== 10) return true;
  return false;
}

function refused(what: string): BuckyError {
  return new BuckyError("E_INVALID_INPUT", `the app pipe refused ${what}`);
}

function tooLarge(limit: number): BuckyError {
  return new BuckyError("E_TOO_LARGE", `the app pipe refused a request body over ${limit} bytes`);
}
