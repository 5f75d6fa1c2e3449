/**
 * Moving bytes between the two ends of a relayed stream (a TCP socket, a WebSocket we
 * accepted, a WebSocket we opened) with backpressure: when one end cannot take more, the
 * other stops reading until it drains, so a fast sender never fills memory. A WebSocket
 * bridged whole (the gateway's, to an app) moves messages, text ones as text.
 */
import type { ServerWebSocket, Socket } from "bun";
// The least a reader must take in each window, as a peer's answer must bring.
import { MIN_PROGRESS_BYTES } from "../node/answer-watch.ts";

/** Above this many queued bytes an end is full. */
const HIGH_WATER = 1024 * 1024;

/** What a link moves: bytes, or a bridged WebSocket's messages. */
export type Message = Uint8Array | string;

export interface End<M extends Message = Uint8Array> {
  /** Sends bytes (or a message); false when the end is full and the sender should pause. */
  send(chunk: M): boolean;
  pause(): void;
  resume(): void;
  close(): void;
  /** Set by the link: called when a full end can take more. */
  drained?: () => void;
}

/**
 * Two ends joined: what one receives, the other sends; when either closes, both do. The
 * first end exists from the start; the second joins later (the far side answering), and
 * what the first sends before then waits, in order.
 */
export class Link<M extends Message = Uint8Array> {
  private waiting: M[] = [];
  private waitingBytes = 0;
  private b: End<M> | undefined;
  private open = true;

  constructor(private readonly a: End<M>) {}

  get closed(): boolean {
    return !this.open;
  }

  join(b: End<M>): void {
    if (!this.open) {
      b.close();
      return;
    }
    this.b = b;
    this.a.drained = () => b.resume();
    b.drained = () => this.a.resume();
    const waiting = this.waiting;
    this.waiting = [];
    for (const chunk of waiting) this.fromA(chunk);
    this.a.resume();
  }

  fromA(chunk: M): void {
    if (!this.open) return;
    if (!this.b) {
      // A copy: the buffer a socket hands its data handler may be reused after it returns.
      this.waiting.push(typeof chunk === "string" ? chunk : (new Uint8Array(chunk) as M));
      this.waitingBytes += chunk.length;
      if (this.waitingBytes >= HIGH_WATER) this.a.pause();
      return;
    }
    if (!this.b.send(chunk)) this.a.pause();
  }

  fromB(chunk: M): void {
    if (this.open && !this.a.send(chunk)) this.b?.pause();
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.waiting = [];
    this.a.close();
    this.b?.close();
  }
}

/**
 * How long a closing end waits for its reader to take another byte of what it still has
 * to send: one that takes nothing (an app or a client that stopped reading) would
 * otherwise hold its connection, and all that waits for it, for good.
 */
const CLOSING_DRAIN_LIMIT_MS = 60_000;

/**
 * A TCP socket as an end: what it cannot write at once waits, in order, for its drain. A
 * close ends the socket once what waits has gone: the other end's last bytes before it
 * hung up (an answer whose end is the connection's close, say) are not dropped. A reader
 * that takes less than MIN_PROGRESS_BYTES of them in `drainLimitMs` is cut (one
 * that took a byte now and then would otherwise hold it as long as it liked).
 *
 * The socket's own handlers call `flush` on its drain and `closed` on its close or error:
 * a socket that closed another way (its reader hung up, or was cut) takes nothing more, and
 * what waited for it (up to HIGH_WATER and more) and the drain limit's timer are let go
 * then, not when the limit falls due.
 */
export function tcpEnd(
  socket: Socket<unknown>,
  drainLimitMs: number = CLOSING_DRAIN_LIMIT_MS,
): TcpEnd {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let closing = false;
  let socketClosed = false;
  let stalled: ReturnType<typeof setTimeout> | undefined;
  /** Bytes the reader took since the closing end's limit was last set. */
  let takenSince = 0;
  const watchDrain = () => {
    clearTimeout(stalled);
    takenSince = 0;
    stalled = setTimeout(() => socket.terminate(), drainLimitMs);
    stalled.unref();
  };
  const endSocket = () => {
    if (queue.length > 0) return watchDrain();
    clearTimeout(stalled);
    socket.end();
  };
  const end: TcpEnd = {
    send(chunk) {
      if (socketClosed) return true;
      if (queue.length === 0) {
        const written = socket.write(chunk);
        if (written === chunk.length) return true;
        chunk = chunk.subarray(Math.max(0, written));
      }
      // Kept past this call, so copied (see Link.fromA).
      queue.push(new Uint8Array(chunk));
      queued += chunk.length;
      return queued < HIGH_WATER;
    },
    flush() {
      if (socketClosed) return;
      while (queue.length > 0) {
        const chunk = queue[0] as Uint8Array;
        const written = Math.max(0, socket.write(chunk));
        queued -= written;
        takenSince += written;
        if (written < chunk.length) {
          queue[0] = chunk.subarray(written);
          // The reader took enough: it has its time again for the rest.
          if (closing && takenSince >= MIN_PROGRESS_BYTES) watchDrain();
          return;
        }
        queue.shift();
      }
      if (closing) endSocket();
      else end.drained?.();
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    close() {
      if (closing) return;
      closing = true;
      endSocket();
    },
    closed() {
      socketClosed = true;
      closing = true;
      clearTimeout(stalled);
      queue.length = 0;
      queued = 0;
    },
  };
  return end;
}

/** A TCP socket's end and the link joining it to the far side, as its handlers hold them. */
export interface TcpStream {
  readonly link: Link;
  readonly end: TcpEnd;
}

/** What a TCP stream's socket does on its close or error: its end lets go, its link closes. */
export function tcpStreamClosed(stream: TcpStream | undefined): void {
  stream?.end.closed();
  stream?.link.close();
}

/** A TCP socket as an end (tcpEnd): its handlers tell it of its drain and of its close. */
export interface TcpEnd extends End {
  /** The socket can take more: what waits goes. */
  flush(): void;
  /** The socket closed: what waits for it, and the watch on a closing one, are dropped. */
  closed(): void;
}

/**
 * A WebSocket Bun.serve accepted, as an end. Bun can pause reading one, though its types
 * do not say so yet; its server's `drain` handler must call the end's `drained`.
 */
export function serverSocketEnd<M extends Message = Uint8Array>(
  ws: ServerWebSocket<unknown>,
): End<M> {
  const pausable = ws as unknown as { pause?: () => void; resume?: () => void };
  return {
    send(chunk) {
      const status = typeof chunk === "string" ? ws.sendText(chunk) : ws.sendBinary(chunk);
      // 0: dropped, so the stream has a hole in it and must end. -1: queued, but full.
      if (status === 0 && chunk.length > 0) ws.close(1011, "buffer overflow");
      return status > 0;
    },
    pause: () => pausable.pause?.(),
    resume: () => pausable.resume?.(),
    close: () => ws.close(),
  };
}

/**
 * A WebSocket this process opened (and which is open), as an end. What it sends is
 * watched through bufferedAmount; pausing stops it reading from its socket.
 */
export function clientSocketEnd<M extends Message = Uint8Array>(ws: WebSocket): End<M> {
  let watching = false;
  const end: End<M> = {
    send(chunk) {
      if (ws.readyState !== WebSocket.OPEN) return true;
      ws.send(chunk);
      if (ws.bufferedAmount < HIGH_WATER) return true;
      if (!watching) {
        watching = true;
        const poll = () => {
          if (ws.readyState !== WebSocket.OPEN || ws.bufferedAmount < HIGH_WATER / 2) {
            watching = false;
            end.drained?.();
          } else {
            setTimeout(poll, 5);
          }
        };
        setTimeout(poll, 5);
      }
      return false;
    },
    pause: () => ws.pause(),
    resume: () => ws.resume(),
    close: () => ws.close(),
  };
  return end;
}

/** Binary WebSocket messages as bytes, whatever form they arrive in. */
export function messageBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data))
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(String(data));
}
