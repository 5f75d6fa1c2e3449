/**
 * How many requests and WebSockets the gateway forwards at once, in all and from one client
 * address, and how many bytes of their bodies it holds in memory while it does.
 *
 * Each request forwarded is a `fetch` in flight until its answer has passed, and the
 * runtime runs at most BUN_CONFIG_MAX_HTTP_REQUESTS of them at once in a process (256
 * unless the environment says; lib/node/daemon-env.ts raises it for the daemon): past
 * that, every fetch waits, the daemon's own with them (sync with its peers, health checks,
 * ACME). Some hundreds of held requests (event streams, slow uploads, long polls) would
 * stop the whole node, and some thousands take every file descriptor. So the gateway keeps
 * a part of the runtime's fetches for the daemon's own, and answers a request past its
 * budget 503 at once, with a time to come back, rather than queueing it. One address may
 * take a quarter of the budget, so that one client cannot take it all.
 *
 * A request is counted from before its body is read until its answer has passed the
 * gateway: the end of a streamed answer, or, for one of known length the runtime writes
 * itself, its head (that body's end is not seen; a client that stops reading it is cut by
 * the idle timeout). The rest of the runtime's fetches beyond the budget are for those. A
 * WebSocket takes no fetch but as many descriptors, and is counted while it is open.
 */
import { readFileSync } from "node:fs";

/** The runtime's own limit on fetches in flight when the environment sets none. */
const RUNTIME_DEFAULT_FETCHES = 256;
/** Fetches kept for the daemon's own work, whatever the gateway holds. */
const KEPT_FOR_THE_DAEMON = 64;
/** The most any one address holds at once, however large the budget. */
const MOST_PER_CLIENT = 256;
/**
 * Bodies read whole (up to READ_WHOLE_BYTES each) held at once, in bytes: past it a small
 * body is streamed to the app like a large one, so thousands of slow small uploads hold
 * their sockets' buffers, not this process's memory.
 */
const BODY_BYTES_HELD = 16 * 1024 * 1024;

export interface ForwardLimits {
  /** Requests forwarded at once, in all. */
  readonly total: number;
  /** Requests forwarded at once for one client address. */
  readonly perClient: number;
  /** Bytes of bodies read whole held at once. */
  readonly bodyBytes: number;
}

/**
 * The limits for this process: within the runtime's fetches less the daemon's part, and
 * within a quarter of its file descriptors (each request holds two: the client's socket
 * and the app's).
 */
export function forwardLimits(
  env: Record<string, string | undefined> = process.env,
  descriptors = openFilesLimit(),
): ForwardLimits {
  const set = Number(env.BUN_CONFIG_MAX_HTTP_REQUESTS);
  // The runtime takes 1 to 65535 and falls back to its default on anything else.
  const fetches =
    Number.isInteger(set) && set >= 1 && set <= 65_535 ? set : RUNTIME_DEFAULT_FETCHES;
  const total = Math.max(1, Math.min(fetches - KEPT_FOR_THE_DAEMON, Math.floor(descriptors / 4)));
  return {
    total,
    perClient: Math.max(1, Math.min(MOST_PER_CLIENT, Math.floor(total / 4))),
    bodyBytes: BODY_BYTES_HELD,
  };
}

/** The process's soft limit on open files (the runtime raises it to the hard one at start). */
function openFilesLimit(): number {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    const soft = line?.split(/\s+/)[3];
    const limit = soft === "unlimited" ? Number.POSITIVE_INFINITY : Number(soft);
    return Number.isNaN(limit) ? 1024 : limit;
  } catch {
    return 1024;
  }
}

/** A request's place in the budget: given back once, however often asked. */
export interface ForwardSlot {
  release(): void;
}

export class ForwardBudget {
  private inFlight = 0;
  private readonly byClient = new Map<string, number>();
  private bodyBytesHeld = 0;

  constructor(readonly limits: ForwardLimits) {}

  /** A place for a request from `client`, or undefined when there is none. */
  take(client: string): ForwardSlot | undefined {
    const mine = this.byClient.get(client) ?? 0;
    if (this.inFlight >= this.limits.total || mine >= this.limits.perClient) return undefined;
    this.inFlight++;
    this.byClient.set(client, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        const left = (this.byClient.get(client) ?? 1) - 1;
        if (left === 0) this.byClient.delete(client);
        else this.byClient.set(client, left);
      },
    };
  }

  /**
   * Room to hold a body of `bytes` in memory, read whole: a function that gives it back,
   * or undefined when the bodies held already take the budget.
   */
  holdBody(bytes: number): (() => void) | undefined {
    if (this.bodyBytesHeld + bytes > this.limits.bodyBytes) return undefined;
    this.bodyBytesHeld += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.bodyBytesHeld -= bytes;
    };
  }

  /** What is held now, for status and tests. */
  get held(): { readonly requests: number; readonly clients: number; readonly bodyBytes: number } {
    return { requests: this.inFlight, clients: this.byClient.size, bodyBytes: this.bodyBytesHeld };
  }
}
