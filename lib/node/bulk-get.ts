/**
 * GETs whose answer goes straight into the caller's buffer, on TLS connections of their own
 * (Bun.connect, pinned to the peer's certificate as fetch is), kept for the next.
 *
 * Why not fetch: Bun's fetch receives an answer on its HTTP thread as pieces in new memory
 * and hands them over a promise at a time, with no reader into the caller's buffer. A 4 MiB
 * answer hashed as it came, over kept TLS on loopback, cost 2.95–3.47 ms of CPU a MiB by
 * fetch and 1.55–1.80 by a socket; `bucky get`'s client, 2.9–3.1 against 2.2–2.3
 * (docs/performance.md). A socket's data handler lends a view of its own buffer, copied
 * once into the caller's.
 *
 * It takes only what the peer API answers: HTTP/1.1, a status line, a Content-Length and
 * no other framing, at most MAX_HEAD_BYTES of head. Another head is NotTaken, and the
 * caller sends the GET by fetch instead; what breaks the form after the head fails the
 * answer, as a broken connection does.
 */
import type { Socket } from "bun";
import { pinnedTls } from "../../protocol/tls-cert.ts";

/** The most head an answer may have; the peer API's are a few hundred bytes. */
const MAX_HEAD_BYTES = 16 * 1024;
/** The most body an answer that is not a success may have (the peer API's JSON error). */
const MAX_ERROR_BYTES = 64 * 1024;
/** Connections kept idle for each peer's address: two chunks go at a time (lib/ndn/fetch.ts). */
const IDLE_KEPT = 4;
/**
 * How long a kept connection may wait for its next GET, in seconds. Below the peer API's own
 * limit (PEER_IDLE_TIMEOUT_S, 60), so this side ends it first rather than sending a GET as
 * the peer closes it; and a peer that never closes does not hold a daemon's descriptors
 * for good after a transfer is done.
 */
export const KEPT_IDLE_S = 30;

/** What a GET is sent to: a peer's address, and the certificate it must present. */
export interface BulkTarget {
  readonly hostname: string;
  readonly port: number;
  readonly certPem: string;
}

/** An answer whose head has come; its body arrives meanwhile, into the caller's buffer. */
export interface BulkAnswer {
  readonly status: number;
  readonly ok: boolean;
  /**
   * The body, `progress` told the size of each piece as it comes (and at once of what came
   * before): for a success, the part of the caller's buffer it filled; else a buffer of its
   * own. Rejects with TooLarge for a body longer than the caller's buffer.
   */
  read(progress: (bytes: number) => void): Promise<Uint8Array>;
}

/** A success whose Content-Length is over the caller's buffer. */
export class TooLarge extends Error {
  override readonly name = "TooLarge";
}

/**
 * What this client does not take: a request it would not write (a path or header that is
 * not printable ASCII), or an answer not in its form (the module's comment). Thrown by
 * `get`, it comes before any answer was taken: the GET may go by fetch, which takes any.
 */
export class NotTaken extends Error {
  override readonly name = "NotTaken";
}

/** One GET in flight on a connection: its head, then its body, read as they come. */
class Exchange {
  private head = "";
  private body: Uint8Array | undefined;
  private length = 0;
  private at = 0;
  private progress: ((bytes: number) => void) | undefined;
  /** Bytes of the body that came before anyone read it. */
  private early = 0;
  /** Whether the connection may carry another exchange after this one. */
  keepAlive = true;
  /** Whether any byte of the answer came: before one, a kept connection's close may be retried. */
  heardAny = false;
  /** Whether the whole answer came, or it failed. */
  done = false;
  readonly answered = Promise.withResolvers<BulkAnswer>();
  private readonly whole = Promise.withResolvers<Uint8Array>();

  constructor(private readonly into: Uint8Array) {
    // The caller may have gone (a failed send) or not read yet: never left unhandled.
    this.answered.promise.catch(() => {});
    this.whole.promise.catch(() => {});
  }

  /** Takes a chunk the socket lent; throws for what this client does not take. */
  take(chunk: Uint8Array): void {
    this.heardAny = true;
    let rest = chunk;
    if (!this.body) {
      const before = this.head.length;
      // Only what can still be head (the chunk with the head's end carries body bytes too,
      // tens of KiB, not to be made text). latin1: one character a byte, so places in the
      // text are places in the bytes.
      const headRoom = Math.min(chunk.byteLength, MAX_HEAD_BYTES + 4 - before);
      this.head += Buffer.from(chunk.buffer, chunk.byteOffset, headRoom).toString("latin1");
      // From where the last chunk ended, less what of the blank line it may have held: a
      // head sent a byte at a time is not searched again whole at each.
      const end = this.head.indexOf("\r\n\r\n", Math.max(0, before - 3));
      // The whole head, also when it came in one piece with its end.
      if ((end < 0 ? this.head.length : end) > MAX_HEAD_BYTES)
        throw new NotTaken("an answer head too long");
      if (end < 0) return;
      this.begin(this.head.slice(0, end));
      rest = chunk.subarray(end + 4 - before);
    }
    if (this.at + rest.length > this.length)
      throw new NotTaken("more bytes than the answer's Content-Length");
    (this.body as Uint8Array).set(rest, this.at);
    this.at += rest.length;
    if (this.progress) this.progress(rest.length);
    else this.early += rest.length;
    if (this.at === this.length) {
      this.done = true;
      this.whole.resolve((this.body as Uint8Array).subarray(0, this.at));
    }
  }

  /** Reads the head: its status and length, and where the body goes. */
  private begin(head: string): void {
    const lines = head.split("\r\n");
    const status = /^HTTP\/1\.1 ([2-5]\d\d)(?: |$)/.exec(lines[0] ?? "");
    if (!status) throw new NotTaken("an answer that is not HTTP/1.1, or an interim one");
    let length: number | undefined;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0) throw new NotTaken("a header line without a name");
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === "content-length") {
        if (length !== undefined || !/^\d{1,15}$/.test(value))
          throw new NotTaken("a Content-Length that is not one number");
        length = Number(value);
      } else if (name === "transfer-encoding") {
        throw new NotTaken("an answer framed by Transfer-Encoding");
      } else if (name === "connection" && /\bclose\b/i.test(value)) {
        this.keepAlive = false;
      }
    }
    if (length === undefined) throw new NotTaken("an answer without a Content-Length");
    const code = Number(status[1]);
    const ok = code < 300;
    const answer: BulkAnswer = {
      status: code,
      ok,
      read: (progress) => {
        this.progress = progress;
        if (this.early > 0) progress(this.early);
        return this.whole.promise;
      },
    };
    this.answered.resolve(answer);
    if (ok && length > this.into.length)
      throw new TooLarge(`an answer of ${length} bytes, for ${this.into.length}`);
    if (!ok && length > MAX_ERROR_BYTES) throw new NotTaken("an error answer too long");
    this.length = length;
    this.body = ok ? this.into : new Uint8Array(length);
  }

  /** Settled once the whole answer came, or it failed. */
  get settled(): Promise<unknown> {
    return this.whole.promise.catch(() => {});
  }

  fail(error: Error): void {
    if (this.done) return;
    this.done = true;
    this.answered.reject(error);
    this.whole.reject(error);
  }
}

/** A kept TLS connection to one peer address, carrying one exchange at a time. */
class Connection {
  private socket: Socket<undefined> | undefined;
  private exchange: Exchange | undefined;
  private readonly opened = Promise.withResolvers<void>();
  private closed = false;
  /** The part of a request the socket has not taken yet. */
  private unsent: Uint8Array | undefined;
  /** Whether it carried an answer already: the peer may close it, idle, as the next one goes. */
  reused = false;

  constructor(
    target: BulkTarget,
    private readonly keptIdleS: number,
    /** Called when it has carried an answer and may carry the next. */
    private readonly free: (connection: Connection) => void,
    /** Called when it closed. */
    private readonly forget: (connection: Connection) => void,
  ) {
    this.opened.promise.catch(() => {});
    const ended = (error?: Error) => this.close(error ?? new Error("the connection closed"));
    Bun.connect<undefined>({
      hostname: target.hostname,
      port: target.port,
      tls: pinnedTls(target.certPem),
      socket: {
        // Held from the TCP connection on, not the handshake: closed meanwhile (called off,
        // out of time), it must end, else a peer that never finishes its handshake holds it
        // open (ref'd, a descriptor each chunk tried) for as long as it likes. A connection
        // still waiting for its TCP handshake cannot be ended: Bun.connect gives no socket
        // before `open` (a dropped SYN waits out the kernel's ~2 min, as connectProbe's does).
        open: (socket) => {
          this.socket = socket;
          if (this.closed) socket.terminate();
        },
        // Nothing is written before the peer has shown its certificate.
        handshake: (_socket, success, problem) => {
          if (!success) return ended(Object.assign(new Error(problem?.message), problem));
          this.opened.resolve();
        },
        data: (_socket, chunk) => this.take(chunk),
        drain: () => {
          if (this.unsent) this.write(this.unsent);
        },
        // Armed only while kept (see hold): an exchange's own limit is the caller's watch.
        timeout: () => ended(new Error("kept idle too long")),
        close: () => ended(),
        error: (_socket, error) => ended(error),
        connectError: (_socket, error) => ended(error),
      },
    }).catch((error: Error) => ended(error));
  }

  /** Sends `request`, its answer read into `exchange`. */
  async send(request: Uint8Array, exchange: Exchange): Promise<void> {
    this.exchange = exchange;
    await this.opened.promise;
    if (this.closed) throw new Error("the connection closed");
    this.write(request);
  }

  /** Writes `bytes`, what the socket does not take now once it drains (it keeps none itself). */
  private write(bytes: Uint8Array): void {
    const written = this.socket?.write(bytes) ?? 0;
    this.unsent = written < bytes.length ? bytes.subarray(Math.max(written, 0)) : undefined;
  }

  /**
   * Kept for the next exchange (`held` false) or carrying one: a kept one does not keep
   * the process alive, so a command that is done can end, and ends after keptIdleS.
   */
  hold(held: boolean): void {
    this.socket?.timeout(held ? 0 : this.keptIdleS);
    if (held) this.socket?.ref();
    else this.socket?.unref();
  }

  /** Whether it may carry another exchange now. */
  get idle(): boolean {
    return !this.closed && !this.exchange;
  }

  close(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.opened.reject(error);
    this.exchange?.fail(error);
    this.exchange = undefined;
    this.socket?.terminate();
    this.forget(this);
  }

  private take(chunk: Uint8Array): void {
    const exchange = this.exchange;
    if (!exchange) {
      this.close(new NotTaken("bytes with no request waiting"));
      return;
    }
    try {
      exchange.take(chunk);
    } catch (error) {
      this.close(error as Error);
      return;
    }
    // Closed within (its reader called it off as bytes were told, which `done` also says):
    // not to be kept, where it would take a live connection's place.
    if (this.closed || !exchange.done) return;
    this.exchange = undefined;
    this.reused = true;
    // At once, so that the caller's next GET, once it has this answer, finds it free.
    if (exchange.keepAlive) this.free(this);
    else this.close(new Error("the connection closed"));
  }
}

/** The kept connections, by peer address and certificate; see the module's comment. */
export class BulkGet {
  private readonly idle = new Map<string, Connection[]>();

  constructor(private readonly keptIdleS = KEPT_IDLE_S) {}

  /**
   * Sends a GET of `path` with `headers` to `target`; resolves once its answer's head has
   * come, a success's body read into `into`. `signal` ends it, its reason the error.
   */
  async get(
    target: BulkTarget,
    path: string,
    headers: Readonly<Record<string, string>>,
    into: Uint8Array,
    signal: AbortSignal,
  ): Promise<BulkAnswer> {
    const host = target.hostname.includes(":") ? `[${target.hostname}]` : target.hostname;
    // Printable ASCII only: nothing can end a line, and each character is one byte.
    if (!/^\/[\x21-\x7e]*$/.test(path)) throw new NotTaken("a path that is not printable ASCII");
    let request = `GET ${path} HTTP/1.1\r\nhost: ${host}:${target.port}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name) || !/^[\x20-\x7e]*$/.test(value))
        throw new NotTaken(`a header that is not printable ASCII (${name})`);
      request += `${name}: ${value}\r\n`;
    }
    const bytes = Buffer.from(`${request}\r\n`, "latin1");
    // A kept connection the peer closed meanwhile fails before any byte of its answer: a
    // GET goes again once, on a new one. Not on another kept one: a peer's idle limit, or
    // its restart, ends them all at once, and the GET would fail as the route being down.
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      const connection = attempt === 0 ? this.take(target) : this.open(target);
      const exchange = new Exchange(into);
      const abort = () => {
        if (!exchange.done) connection.close(signal.reason as Error);
      };
      signal.addEventListener("abort", abort, { once: true });
      void exchange.settled.finally(() => signal.removeEventListener("abort", abort));
      try {
        await connection.send(bytes, exchange);
        return await exchange.answered.promise;
      } catch (error) {
        if (attempt === 0 && connection.reused && !exchange.heardAny && !signal.aborted) continue;
        throw error;
      }
    }
  }

  /** Closes every kept connection. */
  close(): void {
    for (const connections of [...this.idle.values()])
      for (const connection of [...connections]) connection.close(new Error("closed"));
  }

  /** A kept connection to `target`, else a new one. */
  private take(target: BulkTarget): Connection {
    const kept = this.idle.get(keyOf(target));
    for (let connection = kept?.pop(); connection; connection = kept?.pop())
      if (connection.idle) {
        connection.hold(true);
        return connection;
      }
    return this.open(target);
  }

  /** A new connection to `target`. */
  private open(target: BulkTarget): Connection {
    return new Connection(
      target,
      this.keptIdleS,
      (free) => this.keep(target, free),
      (closed) => this.forget(target, closed),
    );
  }

  private keep(target: BulkTarget, connection: Connection): void {
    const key = keyOf(target);
    const kept = this.idle.get(key) ?? [];
    if (kept.length >= IDLE_KEPT) {
      connection.close(new Error("enough kept"));
      return;
    }
    connection.hold(false);
    kept.push(connection);
    this.idle.set(key, kept);
  }

  private forget(target: BulkTarget, connection: Connection): void {
    const key = keyOf(target);
    const kept = this.idle.get(key);
    if (!kept) return;
    const at = kept.indexOf(connection);
    if (at >= 0) kept.splice(at, 1);
    if (kept.length === 0) this.idle.delete(key);
  }
}

function keyOf(target: BulkTarget): string {
  return `${target.hostname}\n${target.port}\n${target.certPem}`;
}
