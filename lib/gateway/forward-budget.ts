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
 * a part of the runtime's fetches out of its budget, and answers a request past the budget
 * 503 at once, with a time to come back, rather than queueing it. One address (an IPv6 one
 * by its /64) may take a quarter of the budget, so that one client cannot take it all.
 *
 * A request is counted from before its body is read until its answer has passed the
 * gateway: the end of a streamed answer, or, for one of known length the runtime writes
 * itself, its head. That body's end is not seen (the runtime tells of none, and piped
 * through a stream to see it, the answer would lose its length), yet its fetch lasts until
 * the client has read it: the part kept out of the budget is for those as well as for the
 * daemon, a quarter of the runtime's fetches. A WebSocket takes no fetch but as many
 * descriptors, and is counted while it is open.
 */
import { readFileSync } from "node:fs";
import { HeldSockets } from "../relay/held-sockets.ts";

/** The runtime's own limit on fetches in flight when the environment sets none. */
const RUNTIME_DEFAULT_FETCHES = 256;
/** Fetches kept out of the budget, at the least: the daemon's own calls. */
const KEPT_OUT_AT_LEAST = 64;
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
 * The limits for a process run with `env`: three quarters of the runtime's fetches (all
 * but 64 of its default 256), and within a quarter of its file descriptors (each request
 * holds two: the client's socket and the app's).
 */
export function forwardLimits(
  env: Readonly<Record<string, string | undefined>>,
  descriptors = openFilesLimit(readProcLimits()),
): ForwardLimits {
  const set = Number(env.BUN_CONFIG_MAX_HTTP_REQUESTS);
  // The runtime takes 1 to 65535 and falls back to its default on anything else.
  const fetches =
    Number.isInteger(set) && set >= 1 && set <= 65_535 ? set : RUNTIME_DEFAULT_FETCHES;
  const keptOut = Math.max(KEPT_OUT_AT_LEAST, Math.floor(fetches / 4));
  const total = Math.max(1, Math.min(fetches - keptOut, Math.floor(descriptors / 4)));
  return {
    total,
    perClient: Math.max(1, Math.min(MOST_PER_CLIENT, Math.floor(total / 4))),
    bodyBytes: BODY_BYTES_HELD,
  };
}

/**
 * The soft limit on open files in `/proc/self/limits`'s text (the runtime raised it to
 * the hard one at its start); 1024, the usual default, when it cannot be read.
 */
export function openFilesLimit(limits: string | undefined): number {
  const soft = limits
    ?.split("\n")
    .find((line) => line.startsWith("Max open files"))
    ?.split(/\s+/)[3];
  if (soft === "unlimited") return Number.POSITIVE_INFINITY;
  const limit = Number(soft);
  return Number.isInteger(limit) && limit > 0 ? limit : 1024;
}

function readProcLimits(): string | undefined {
  try {
    return readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
}

/** Something held in the budget: given back once, however often asked. */
export interface Held {
  release(): void;
}

export class ForwardBudget {
  private readonly forwards: HeldSockets;
  private bodyBytesHeld = 0;

  constructor(readonly limits: ForwardLimits) {
    this.forwards = new HeldSockets(limits.perClient, limits.total);
  }

  /** A place for a request or WebSocket from `client`, or undefined when there is none. */
  take(client: string): Held | undefined {
    if (this.forwards.full(client)) return undefined;
    this.forwards.add(client);
    return once(() => this.forwards.remove(client));
  }

  /**
   * Room to hold a body of `bytes` in memory, read whole, or undefined when the bodies
   * held already take the budget.
   */
  holdBody(bytes: number): Held | undefined {
    if (this.bodyBytesHeld + bytes > this.limits.bodyBytes) return undefined;
    this.bodyBytesHeld += bytes;
    return once(() => {
      this.bodyBytesHeld -= bytes;
    });
  }

  /** What is held now, for the log and tests. */
  get held(): {
    readonly forwards: number;
    readonly addresses: number;
    readonly bodyBytes: number;
  } {
    return {
      forwards: this.forwards.inAll,
      addresses: this.forwards.addresses,
      bodyBytes: this.bodyBytesHeld,
    };
  }
}

function once(release: () => void): Held {
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      release();
    },
  };
}
