/**
 * The holder's side of an app's replication: snapshots of the app's data into its
 * replica (every second when something changed; more seldom when a snapshot is slow, so
 * that taking them never costs more than a fifth of the time), served to standbys, who
 * say how far they got. A standby waiting for news waits on `nextHead`, so a new
 * snapshot reaches it at once, not at its next poll.
 */
import { join } from "node:path";
import type { Log } from "../log.ts";
import type { ReplicaDb, ReplicaHead } from "./replica-db.ts";
import { dataSignature, takeSnapshot } from "./snapshot.ts";

export const SNAPSHOT_EVERY_MS = 1_000;
/** Snapshots never take more than this share of the holder's time. */
const MAX_SNAPSHOT_SHARE = 0.2;
/** Meta keys in the replica database. */
const SIGNATURE = "signature";
const LAST_ROOT = "lastRoot";
/** Where each standby's position is kept, so a holder restarted knows it at once. */
const STANDBYS = "standbys";
/**
 * File times tick coarsely (a few milliseconds, by the kernel's clock): a write within
 * this long of a look may leave a file's size and time as they were.
 */
const RACY_MS = 1_000;
/**
 * How far a look that finds the data unchanged moves the time its snapshot holds every
 * write until, at the least: that time is in the holder's facts, and moved at every look,
 * an idle app's holder signed and sent new facts at every publish, all day.
 */
const CONFIRM_STEP_MS = 10_000;

export interface StandbyPosition {
  readonly epoch: number;
  readonly seq: number;
  /** When the snapshot it has was taken (holder's clock). */
  readonly at: number;
  /** When it said so (this device's clock). */
  readonly ackedAtMs: number;
}

/**
 * A standby's position as the holder reports it. Its `at` is the time its copy holds every
 * write from before: its snapshot's time, or later when the holder has since found the
 * data just as that snapshot holds it (a write made while a snapshot was being taken may
 * be in it, which its own time, taken before, does not say).
 */
export interface StandbyLag extends StandbyPosition {
  readonly lagMs: number;
  readonly lagBytes: number;
}

export class ReplicaSource {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private working: Promise<ReplicaHead | undefined> = Promise.resolve(undefined);
  /** Standbys' asks for the next head, each woken by a new one (or gone at its time). */
  private readonly waiters = new Set<() => void>();
  private readonly standbys = new Map<string, StandbyPosition>();
  /** Bytes each snapshot added, by seq: what a standby that lags still has to fetch. */
  private readonly added = new Map<number, number>();
  /** When each snapshot was taken, by seq: a standby's position is timed by these, not by its word. */
  private readonly takenAt = new Map<number, number>();
  private stopped = false;
  /** The data changed since the newest snapshot (as of the last look). */
  private dirty = false;
  /** A blob of this replica was found damaged and dropped: the next look reads the data. */
  private lostBlob = false;
  private sent = 0;
  /** The last look saw a file changed just before it (see take()). */
  private racy = false;
  /** The entries left out of the last snapshot, as said (sayLeftOut). */
  private leftOutSaid = "";
  /**
   * The newest snapshot a later look found the data unchanged from (by content), and when
   * that look was: the snapshot holds every write from before then.
   */
  private confirmed: { readonly seq: number; readonly at: number } | undefined;

  constructor(
    private readonly options: {
      readonly app: string;
      readonly epoch: number;
      readonly device: string;
      readonly db: ReplicaDb;
      readonly dataDir: string;
      readonly replicaDir: string;
      readonly log: Log;
      readonly now: () => number;
      readonly everyMs?: number;
    },
  ) {
    const head = this.head();
    for (const [device, position] of keptPositions(options.db, options.epoch))
      if (head && position.seq <= head.seq) this.standbys.set(device, position);
  }

  get epoch(): number {
    return this.options.epoch;
  }

  /** Starts taking snapshots when the data changes. */
  start(): void {
    this.schedule(0);
  }

  /** Stops taking snapshots; settles once a snapshot under way is done (its database free). */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeWaiters();
    return this.working.then(
      () => undefined,
      () => undefined,
    );
  }

  /** This epoch's newest snapshot, if there is one yet. */
  head(): ReplicaHead | undefined {
    const head = this.options.db.head();
    return head?.epoch === this.options.epoch && head.holder === this.options.device
      ? head
      : undefined;
  }

  /**
   * The time up to which this epoch's newest snapshot holds every write: when it was
   * taken, or later, when a look since found the data unchanged from it.
   */
  heldAt(): number | undefined {
    const head = this.head();
    if (!head) return undefined;
    return this.confirmed?.seq === head.seq ? Math.max(head.at, this.confirmed.at) : head.at;
  }

  /**
   * A snapshot now if the data changed since the last one (or, with `final`, now in any
   * case, marked as the last before a move: the app must be stopped).
   */
  snapshot(final = false): Promise<ReplicaHead | undefined> {
    this.working = this.working.then(
      () => this.take(final),
      () => this.take(final),
    );
    return this.working;
  }

  /** Resolves with a head newer than `after`, or undefined after `waitMs`. */
  async nextHead(
    after: { epoch: number; seq: number },
    waitMs: number,
  ): Promise<ReplicaHead | undefined> {
    const newer = () => {
      const head = this.head();
      return head && (head.epoch !== after.epoch || head.seq > after.seq) ? head : undefined;
    };
    const now = newer();
    if (now || this.stopped) return now;
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      // Gone at its time too: kept until the next head, an idle app's asks, one every few
      // seconds from each standby, piled up for as long as it stayed idle.
      const timer = setTimeout(wake, waitMs);
      this.waiters.add(wake);
    });
    return newer();
  }

  /**
   * A head newer than `after` as of now, without waiting: the newest snapshot, or one taken
   * now when the data's names, sizes or times changed since it. A standby asking whether its
   * copy is the newest (a move's arrival) is never told so while the app, run here again
   * after its last snapshot, has written what no snapshot holds yet. (Unchanged, no new
   * snapshot is made: one of the same data would take a move's last snapshot's place.)
   */
  async newestNow(after: { epoch: number; seq: number }): Promise<ReplicaHead | undefined> {
    const newer = await this.nextHead(after, 0);
    if (newer || this.stopped) return newer;
    const { db, dataDir } = this.options;
    if (db.meta(SIGNATURE) === dataSignature(dataDir).signature) return undefined;
    const taken = await this.snapshot();
    return taken && (taken.epoch !== after.epoch || taken.seq > after.seq) ? taken : undefined;
  }

  /** Wakes every standby waiting for the next head. */
  private wakeWaiters(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** How many standbys' asks wait for the next head (each until it comes or its time ends). */
  get waiting(): number {
    return this.waiters.size;
  }

  /**
   * Has the next look take a snapshot, unchanged data or not: a blob of the replica was
   * dropped (found damaged), and reading the data again puts it back.
   */
  readAgain(): void {
    this.lostBlob = true;
  }

  /** Bytes of blobs sent to standbys, this epoch, since this daemon started. */
  get servedBytes(): number {
    return this.sent;
  }

  served(bytes: number): void {
    this.sent += bytes;
  }

  /**
   * A standby says which snapshot it has whole. Only a snapshot of this epoch taken here
   * counts, timed as it was taken here: the standby's own time for it (a member writes what
   * it likes) would say how far behind it is, and one from the future that it is not.
   * A snapshot from before this daemon started is timed at most as the newest.
   */
  acknowledge(device: string, epoch: number, seq: number, at: number): void {
    const head = this.head();
    if (!head || epoch !== head.epoch || seq > head.seq) return;
    const takenAt = seq === head.seq ? head.at : (this.takenAt.get(seq) ?? Math.min(at, head.at));
    this.standbys.set(device, { epoch, seq, at: takenAt, ackedAtMs: this.options.now() });
    this.options.db.setMeta(STANDBYS, JSON.stringify(Object.fromEntries(this.standbys)));
  }

  /**
   * A standby asking for news names the snapshot of this holder it has whole. When that is
   * this epoch's newest, the question is its acknowledgement: a holder whose kept positions
   * were lost (a replica started anew) would otherwise never hear one (the standby
   * acknowledges only a snapshot it fetched) and say the standby has no copy. True when
   * this told the holder something new.
   */
  asked(device: string, have: { readonly epoch: number; readonly seq: number }): boolean {
    const head = this.head();
    if (!head || have.epoch !== head.epoch || have.seq !== head.seq) return false;
    const known = this.standbys.get(device);
    if (known?.epoch === head.epoch && known.seq === head.seq) return false;
    this.acknowledge(device, head.epoch, head.seq, head.at);
    return true;
  }

  /**
   * How far each standby has this epoch's data: its snapshot, how long its copy has been
   * behind (since that snapshot, if the data changed after it), and the bytes it lacks.
   */
  positions(): Map<string, StandbyLag> {
    const result = new Map<string, StandbyLag>();
    const head = this.head();
    const now = this.options.now();
    for (const [device, position] of this.standbys) {
      if (position.epoch !== this.options.epoch) continue;
      let lagBytes = 0;
      for (let seq = position.seq + 1; head && seq <= head.seq; seq++)
        lagBytes += this.added.get(seq) ?? 0;
      const at =
        this.confirmed?.seq === position.seq
          ? Math.max(position.at, this.confirmed.at)
          : position.at;
      const behind = this.dirty || (head !== undefined && head.seq > position.seq);
      result.set(device, {
        ...position,
        at,
        lagMs: behind ? Math.max(0, now - at) : 0,
        lagBytes,
      });
    }
    return result;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(async () => {
      const startedAt = this.options.now();
      try {
        await this.snapshot(false);
      } catch (error) {
        this.options.log.warn("snapshot of app data failed", {
          app: this.options.app,
          error: (error as Error).message,
        });
      }
      const tookMs = this.options.now() - startedAt;
      this.schedule(
        Math.max(this.options.everyMs ?? SNAPSHOT_EVERY_MS, tookMs / MAX_SNAPSHOT_SHARE - tookMs),
      );
    }, delayMs);
  }

  /**
   * Says which of the data's entries no snapshot holds (names not UTF-8), once for each
   * set of them: a standby that takes over would start without them.
   */
  private sayLeftOut(paths: readonly string[]): void {
    const said = paths.join("\n");
    if (said !== this.leftOutSaid && paths.length > 0)
      this.options.log.warn("app data not replicated: names not UTF-8", {
        app: this.options.app,
        count: paths.length,
        first: paths[0],
      });
    this.leftOutSaid = said;
  }

  private async take(final: boolean): Promise<ReplicaHead | undefined> {
    const { db, dataDir } = this.options;
    const lookAt = this.options.now();
    const look = dataSignature(dataDir);
    const signature = look.signature;
    const previous = this.head();
    // A file changed within the clock's grain of the last look may have changed again
    // since without its size or time showing it: such a look settles nothing.
    this.dirty = !previous || db.meta(SIGNATURE) !== signature || this.racy || this.lostBlob;
    this.racy = this.options.now() - look.newestMs < RACY_MS;
    if (!final && !this.dirty) {
      // Its names, sizes and times as the newest snapshot's: that snapshot holds every write
      // from before this look. Else an app idle a day was said, taken over, to have lost at
      // most a day of writes.
      const heldAt = this.heldAt();
      if (previous && heldAt !== undefined && lookAt - heldAt >= CONFIRM_STEP_MS)
        this.confirmed = { seq: previous.seq, at: lookAt };
      return undefined;
    }
    if (final && previous?.final && db.meta(SIGNATURE) === signature) return previous;
    const head = await takeSnapshot({
      db,
      dataDir,
      cacheDir: join(this.options.replicaDir, "cache"),
      head: {
        app: this.options.app,
        epoch: this.options.epoch,
        seq: (previous?.seq ?? 0) + 1,
        holder: this.options.device,
        at: this.options.now(),
        final,
      },
      leftOut: (paths) => this.sayLeftOut(paths),
    });
    db.setMeta(SIGNATURE, signature);
    // Written meanwhile? The next look says.
    this.dirty = false;
    this.lostBlob = false;
    // Files touched, nothing changed (a database checkpointed, or a write that the previous
    // snapshot caught after its look): nothing new to ship, but the previous snapshot is
    // now known to hold every write from before this look.
    if (previous && previous.content === head.content && previous.final === final) {
      this.confirmed = { seq: previous.seq, at: head.at };
      this.options.log.debug("app data unchanged since its snapshot", {
        app: this.options.app,
        epoch: previous.epoch,
        seq: previous.seq,
      });
      return previous;
    }
    db.setHead(head);
    // The snapshot before stays until the next: a standby may be fetching it.
    const before = db.meta(LAST_ROOT);
    db.setMeta(LAST_ROOT, head.root);
    db.collect(before && before !== head.root ? [head.root, before] : [head.root]);
    this.added.set(head.seq, head.addedBytes);
    this.added.delete(head.seq - 1000);
    this.takenAt.set(head.seq, head.at);
    this.takenAt.delete(head.seq - 1000);
    this.wakeWaiters();
    this.options.log.debug("app data snapshot", {
      app: this.options.app,
      epoch: head.epoch,
      seq: head.seq,
      bytes: head.bytes,
      added: head.addedBytes,
      final,
    });
    return head;
  }
}

/**
 * The standbys' positions this holder kept in its replica (acknowledge), of `epoch`: a
 * holder restarted with its data unchanged says at once what each standby has, rather
 * than that it has no copy until it asks again (every device's status said so meanwhile).
 */
function keptPositions(db: ReplicaDb, epoch: number): [string, StandbyPosition][] {
  let kept: unknown;
  try {
    kept = JSON.parse(db.meta(STANDBYS) ?? "{}");
  } catch {
    return [];
  }
  if (typeof kept !== "object" || kept === null) return [];
  return Object.entries(kept as Record<string, unknown>).flatMap(([device, value]) => {
    const position = value as Partial<StandbyPosition> | null;
    return position?.epoch === epoch &&
      Number.isSafeInteger(position.seq) &&
      Number.isFinite(position.at) &&
      Number.isFinite(position.ackedAtMs)
      ? [[device, position as StandbyPosition]]
      : [];
  });
}
