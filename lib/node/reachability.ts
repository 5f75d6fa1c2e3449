/**
 * Which of a peer's addresses can be reached from here: a TCP connect, tried with a short
 * timeout and remembered, so an address behind someone else's NAT costs one probe rather
 * than a full request timeout each time. A remembered answer past its age is still used
 * while a fresh probe runs behind it.
 */

/** A connect that has not completed in this long counts as unreachable. */
export const PROBE_TIMEOUT_MS = 1_500;
/** How long an answer is fresh: a working address for longer than a failing one. */
const REACHABLE_FOR_MS = 60_000;
const UNREACHABLE_FOR_MS = 5_000;

interface Verdict {
  readonly reachable: boolean;
  readonly atMs: number;
}

export class Reachability {
  private readonly verdicts = new Map<string, Verdict>();
  private readonly probing = new Map<string, Promise<boolean>>();

  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly probe: (address: string) => Promise<boolean> = connectProbe,
  ) {}

  /** Whether `address` (`https://host:port`) answers: from memory when known, unless `fresh`. */
  async check(address: string, fresh = false): Promise<boolean> {
    const verdict = this.verdicts.get(address);
    if (!verdict || fresh) return this.reprobe(address);
    const age = this.now() - verdict.atMs;
    if (age > (verdict.reachable ? REACHABLE_FOR_MS : UNREACHABLE_FOR_MS))
      void this.reprobe(address);
    return verdict.reachable;
  }

  /**
   * Whether `address` answers now: what was found there within the last `withinMs` (by a
   * probe or a call), else a fresh probe. Many waiting on one address share the probes.
   */
  async checkWithin(address: string, withinMs: number): Promise<boolean> {
    const verdict = this.verdicts.get(address);
    if (verdict && this.now() - verdict.atMs <= withinMs) return verdict.reachable;
    return this.reprobe(address);
  }

  /** What is known of `address` without probing: reachable, not, or unknown. */
  known(address: string): boolean | undefined {
    return this.verdicts.get(address)?.reachable;
  }

  /** A request through `address` worked, or could not connect. */
  record(address: string, reachable: boolean): void {
    this.verdicts.set(address, { reachable, atMs: this.now() });
  }

  private reprobe(address: string): Promise<boolean> {
    let running = this.probing.get(address);
    if (!running) {
      running = this.probe(address).then((reachable) => {
        this.probing.delete(address);
        this.record(address, reachable);
        return reachable;
      });
      this.probing.set(address, running);
    }
    return running;
  }
}

/** Whether a TCP connection to the address's host and port opens within the timeout. */
export function connectProbe(address: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return Promise.resolve(false);
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  return new Promise((resolve) => {
    // The clock starts once the event loop has turned, not at this call: the connect only
    // goes out then, and a loop busy for longer than the timeout right after (a gateway
    // under load) found the timeout already past when it came back, and half the probes of
    // a live listener failed (measured: 10 of 20, with the loop held 1.6 s after the call;
    // none once the clock starts after the turn, however long it is held then).
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    setImmediate(() => {
      if (!settled) timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const settle = (reachable: boolean) => {
      settled = true;
      clearTimeout(timer);
      resolve(reachable);
    };
    Bun.connect({
      hostname,
      port,
      socket: {
        open(socket) {
          socket.end();
          settle(true);
        },
        data() {},
        connectError() {
          settle(false);
        },
      },
    }).catch(() => settle(false));
  });
}
