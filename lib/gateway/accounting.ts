/**
 * Per-app traffic accounting: requests and body bytes in and out, per client address and
 * minute. Counted in memory and added to the `traffic` table every few seconds, so the
 * figures survive restarts without a write per request.
 */
import { and, eq, gte, lt, sql } from "drizzle-orm";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { isPassing } from "../errors.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { traffic } from "../store/schema.ts";

export const FLUSH_EVERY_MS = 5000;
/**
 * The most client addresses counted apart for one app in one minute: the requests of any
 * more are counted together, as OTHER_CLIENTS. A row is kept per app, client and minute,
 * and a client may come from any address of its range (an IPv6 /64 has 2^64): without a
 * bound, one machine wrote a row per request, and the daemon's look at the last 24 hours
 * (its traffic facts, every minute) grew with them (1 M rows: 3-4 s of its one thread).
 */
export const MAX_CLIENTS_A_MINUTE = 100;
export const OTHER_CLIENTS = "(others)";
/**
 * How long the counts are kept, by client address: longer than any figure the gateway
 * shows (the panel's charts, the traffic facts' 24 hours), and not for ever. Who came from
 * where is a person's record, and the table only grew.
 */
export const TRAFFIC_KEPT_MS = 90 * 24 * 3_600_000;
/** How often counts older than that are deleted. */
const PRUNE_EVERY_MS = 3_600_000;

interface Counts {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface AppTraffic {
  readonly app: string;
  readonly requests: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly clients: readonly {
    readonly client: string;
    readonly requests: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
  }[];
}

/** Counts by minute, app and client: no key is built per request. */
type Pending = Map<number, Map<string, Map<string, Counts>>>;

/** What a connection held open has carried so far, each way. */
export interface Carried {
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A connection counted as it goes: its running totals, and how much of them is counted. */
interface HeldOpen {
  readonly app: string;
  readonly client: string;
  readonly carried: () => Carried;
  countedIn: number;
  countedOut: number;
}

export class Accounting {
  private pending: Pending = new Map();
  private timer: ReturnType<typeof setInterval> | undefined;
  /** The clients counted apart this minute, per app (what was flushed included). */
  private apart: { minute: number; clients: Map<string, Set<string>> } = {
    minute: Number.NaN,
    clients: new Map(),
  };
  /** The connections held open, counted at each flush (holdOpen). */
  private readonly held = new Set<HeldOpen>();
  /** When counts past TRAFFIC_KEPT_MS were last deleted (never, yet). */
  private prunedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly db: StateDb,
    private readonly now: () => number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.flush();
  }

  /** Counts one request of `app` from `client` (call once the response is done). */
  count(app: string, client: string, bytesIn: number, bytesOut: number): void {
    this.add(app, client, { requests: 1, bytesIn, bytesOut });
  }

  /**
   * Counts a connection held open (a WebSocket, a streamed answer) as it goes: at each
   * flush the bytes it carried since the one before, and at its end (the returned call,
   * once) the rest, and the request itself. A socket open for hours was counted only at
   * its close: its bytes all fell in that one minute, and a gateway killed meanwhile lost
   * them all; now it loses what passed since its last flush, as a request does.
   */
  holdOpen(app: string, client: string, carried: () => Carried): () => void {
    const held: HeldOpen = { app, client, carried, countedIn: 0, countedOut: 0 };
    this.held.add(held);
    return () => {
      if (!this.held.delete(held)) return;
      this.countCarried(held, 1);
    };
  }

  flush(): void {
    for (const held of this.held) this.countCarried(held, 0);
    this.pruneWhenDue();
    if (this.pending.size === 0) return;
    const pending = this.pending;
    this.pending = new Map();
    try {
      this.write(pending);
    } catch (error) {
      if (!isPassing(error)) throw error;
      // Kept for the next flush: counts wait for room (or for another process to let go of
      // the database) rather than being lost.
      for (const [minute, app, client, add] of entriesOf(pending)) {
        const counts = this.countsOf(minute, app, client);
        counts.requests += add.requests;
        counts.bytesIn += add.bytesIn;
        counts.bytesOut += add.bytesOut;
      }
    }
  }

  /** Counts what `held` carried since it was last counted, with `requests`. */
  private countCarried(held: HeldOpen, requests: number): void {
    const { bytesIn, bytesOut } = held.carried();
    const moreIn = bytesIn - held.countedIn;
    const moreOut = bytesOut - held.countedOut;
    if (requests === 0 && moreIn === 0 && moreOut === 0) return;
    held.countedIn = bytesIn;
    held.countedOut = bytesOut;
    this.add(held.app, held.client, { requests, bytesIn: moreIn, bytesOut: moreOut });
  }

  /** Adds `more` to this minute's counts of `app` from `client`. */
  private add(app: string, client: string, more: Counts): void {
    const minute = Math.floor(this.now() / 60_000);
    const counts = this.countsOf(minute, app, this.apartOrOthers(minute, app, client));
    counts.requests += more.requests;
    counts.bytesIn += more.bytesIn;
    counts.bytesOut += more.bytesOut;
  }

  /** Deletes the counts older than TRAFFIC_KEPT_MS, once an hour (by the minute's index). */
  private pruneWhenDue(): void {
    const nowMs = this.now();
    if (nowMs - this.prunedAtMs < PRUNE_EVERY_MS) return;
    try {
      this.db
        .delete(traffic)
        .where(lt(traffic.minute, Math.floor((nowMs - TRAFFIC_KEPT_MS) / 60_000)))
        .run();
      this.prunedAtMs = nowMs;
    } catch (error) {
      // Tried again at the next flush.
      if (!isPassing(error)) throw error;
    }
  }

  /** `client`, or OTHER_CLIENTS once MAX_CLIENTS_A_MINUTE others were counted apart. */
  private apartOrOthers(minute: number, app: string, client: string): string {
    if (this.apart.minute !== minute) this.apart = { minute, clients: new Map() };
    let clients = this.apart.clients.get(app);
    if (!clients) {
      clients = new Set();
      this.apart.clients.set(app, clients);
    }
    if (clients.has(client)) return client;
    if (clients.size >= MAX_CLIENTS_A_MINUTE) return OTHER_CLIENTS;
    clients.add(client);
    return client;
  }

  private countsOf(minute: number, app: string, client: string): Counts {
    let apps = this.pending.get(minute);
    if (!apps) {
      apps = new Map();
      this.pending.set(minute, apps);
    }
    let clients = apps.get(app);
    if (!clients) {
      clients = new Map();
      apps.set(app, clients);
    }
    let counts = clients.get(client);
    if (!counts) {
      counts = { requests: 0, bytesIn: 0, bytesOut: 0 };
      clients.set(client, counts);
    }
    return counts;
  }

  private write(pending: Pending): void {
    this.db.transaction(() => {
      for (const [minute, app, client, counts] of entriesOf(pending)) {
        this.db
          .insert(traffic)
          .values({ app, client, minute, ...counts })
          .onConflictDoUpdate({
            target: [traffic.app, traffic.client, traffic.minute],
            set: {
              requests: sql`${traffic.requests} + ${counts.requests}`,
              bytesIn: sql`${traffic.bytesIn} + ${counts.bytesIn}`,
              bytesOut: sql`${traffic.bytesOut} + ${counts.bytesOut}`,
            },
          })
          .run();
      }
    }, IMMEDIATE);
  }
}

function* entriesOf(pending: Pending): Generator<[number, string, string, Counts]> {
  for (const [minute, apps] of pending)
    for (const [app, clients] of apps)
      for (const [client, counts] of clients) yield [minute, app, client, counts];
}

/** Totals since `sinceMs`, per app and client, from what the gateway flushed. */
export function trafficReport(db: StateDb, sinceMs: number, app?: string): AppTraffic[] {
  const rows = db
    .select()
    .from(traffic)
    .where(
      and(
        gte(traffic.minute, Math.floor(sinceMs / 60_000)),
        app ? eq(traffic.app, app) : undefined,
      ),
    )
    .all();
  const apps = new Map<string, Map<string, Counts>>();
  for (const row of rows) {
    const clients = apps.get(row.app) ?? new Map<string, Counts>();
    const counts = clients.get(row.client) ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
    counts.requests += row.requests;
    counts.bytesIn += row.bytesIn;
    counts.bytesOut += row.bytesOut;
    clients.set(row.client, counts);
    apps.set(row.app, clients);
  }
  return [...apps]
    .map(([name, clients]) => {
      const list = [...clients]
        .map(([client, counts]) => ({ client, ...counts }))
        .sort((a, b) => b.bytesOut - a.bytesOut);
      const sum = (field: keyof Counts) => list.reduce((total, c) => total + c[field], 0);
      return {
        app: name,
        requests: sum("requests"),
        bytesIn: sum("bytesIn"),
        bytesOut: sum("bytesOut"),
        clients: list,
      };
    })
    .sort((a, b) => compareCodeUnits(a.app, b.app));
}

export interface TrafficSeries {
  readonly app: string;
  /** One point per bucket that saw traffic, oldest first. */
  readonly points: readonly {
    readonly at: string;
    readonly requests: number;
    readonly bytesOut: number;
  }[];
}

/** Each app's traffic since `sinceMs` in buckets of `bucketMs` (for charts). */
export function trafficSeries(db: StateDb, sinceMs: number, bucketMs: number): TrafficSeries[] {
  const rows = db
    .select()
    .from(traffic)
    .where(gte(traffic.minute, Math.floor(sinceMs / 60_000)))
    .all();
  const apps = new Map<string, Map<number, { requests: number; bytesOut: number }>>();
  for (const row of rows) {
    const bucket = Math.floor((row.minute * 60_000) / bucketMs) * bucketMs;
    const buckets = apps.get(row.app) ?? new Map<number, { requests: number; bytesOut: number }>();
    const point = buckets.get(bucket) ?? { requests: 0, bytesOut: 0 };
    point.requests += row.requests;
    point.bytesOut += row.bytesOut;
    buckets.set(bucket, point);
    apps.set(row.app, buckets);
  }
  return [...apps]
    .map(([app, buckets]) => ({
      app,
      points: [...buckets]
        .sort(([a], [b]) => a - b)
        .map(([at, point]) => ({ at: new Date(at).toISOString(), ...point })),
    }))
    .sort((a, b) => compareCodeUnits(a.app, b.app));
}
