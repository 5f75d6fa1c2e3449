/**
 * Collecting named data nothing refers to. Every object of this device's store is either
 * named by a root (lib/ndn/roots.ts: directly, or as a chunk of a chunk list a root
 * names) or unreferenced; an unreferenced object is noted with the time it was first found
 * so, and removed once it has stayed unreferenced for the grace period (a day by
 * default): long enough for a fetch that stores chunks before the list naming them, an
 * install that stores a package before its spec arrives, or an owner who released a file
 * by mistake and stores it again.
 *
 * The first collection on a device pins, as the owner's, what was stored before bucky
 * counted references (anything that is not an app package): files put then stay.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { eq, gt, sql } from "drizzle-orm";
import { type ChunkListId, type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { ndnCollection, ndnUnreferenced } from "../store/schema.ts";
import { pin } from "./pins.ts";
import type { RootKind } from "./roots.ts";
import type { ObjectStore } from "./store.ts";

export const DEFAULT_GRACE_MS = 24 * 3_600_000;

/** How an app package begins (CBOR {v: 1, files: …}): not pinned as the owner's at the first collection. */
const PACKAGE_HEAD = Uint8Array.from([0xa2, 0x61, 0x76, 0x01, 0x65, 0x66, 0x69, 0x6c, 0x65, 0x73]);

export interface Collected {
  /** Objects removed, and the bytes they took. */
  readonly removed: number;
  readonly removedBytes: number;
  /** Objects unreferenced, waiting out their grace period. */
  readonly waiting: number;
}

/** How long one step of a collection runs before the event loop may turn. */
const STEP_MS = 10;
/** Rows of noted objects read at a time. */
const NOTED_PAGE = 2_000;

/**
 * One collection, in steps of a few milliseconds that let the daemon answer between them
 * (a home of 100,000 objects took seconds in one). It decides as one step would: an object
 * is removed only if no root keeps it at the moment it is removed. The roots are read
 * again before a step of removals whenever the state database or the store changed since
 * they were read (a pin, a spec, a list stored).
 */
export async function collectGarbage(options: {
  readonly db: StateDb;
  readonly store: ObjectStore;
  readonly roots: readonly RootKind[];
  readonly nowMs: number;
  readonly graceMs: number;
  readonly log: Log;
  /** Whether the daemon is stopping: the collection ends at its next step, whole so far. */
  readonly stopping?: () => boolean;
}): Promise<Collected> {
  const { db, store, nowMs, log } = options;
  const pause: Pause = async () => {
    await turn();
    if (options.stopping?.()) throw STOPPING;
  };
  let removed = 0;
  let removedBytes = 0;
  let waiting = 0;
  try {
    await collectSteps();
  } catch (error) {
    if (error !== STOPPING) throw error;
  }
  if (removed > 0) log.info("named data collected", { removed, bytes: removedBytes, waiting });
  return { removed, removedBytes, waiting };

  async function collectSteps(): Promise<void> {
    const lists = new ListReader(store);
    await pinWhatCameBefore(db, store, options.roots, nowMs, log, lists, pause);
    await lists.readAhead(options.roots, pause);
    // Read together, in one step: what the roots keep, and a watch on what could change it.
    let live = liveObjects(store, options.roots, lists);
    const watch = new ChangeWatch(db, store);
    const since = await notedSince(db, pause);
    const ids = await listObjects(store, pause);
    const note = db
      .insert(ndnUnreferenced)
      .values({ id: sql.placeholder("id"), since: nowMs })
      .onConflictDoNothing()
      .prepare();
    const unnote = db
      .delete(ndnUnreferenced)
      .where(eq(ndnUnreferenced.id, sql.placeholder("id")))
      .prepare();
    const candidates: ObjectId[] = [];
    const written = (step: () => void) => watch.own(() => db.transaction(step, IMMEDIATE));
    await inSteps(
      ids,
      written,
      (id) => {
        const first = since.get(id);
        since.delete(id);
        if (live.has(id)) {
          if (first !== undefined) unnote.run({ id });
        } else if (first === undefined) {
          note.run({ id });
          waiting++;
        } else if (nowMs - first >= options.graceMs) candidates.push(id);
        else waiting++;
      },
      pause,
    );
    // Noted objects that are gone (removed by hand, or a restore replaced the store): one
    // stored again starts its grace period afresh, whatever names it meanwhile.
    await inSteps([...since.keys()], written, (id) => unnote.run({ id }), pause);
    // What the roots keep is looked at inside the step's transaction, which holds the
    // write lock: no other connection can name an object between the look and its removal.
    const removing = (step: () => void) =>
      written(() => {
        if (watch.changedSinceAsked()) live = liveObjects(store, options.roots, lists);
        step();
      });
    await inSteps(
      candidates,
      removing,
      (id) => {
        if (!live.has(id)) {
          removedBytes += store.remove(id);
          removed++;
        }
        unnote.run({ id });
      },
      pause,
    );
  }
}

/** Between two steps: the event loop turns, and a stopping daemon ends the collection. */
type Pause = () => Promise<void>;
const STOPPING = Symbol("stopping");

/** Since when each noted object is unreferenced, read a page at a time. */
async function notedSince(db: StateDb, pause: Pause): Promise<Map<ObjectId, number>> {
  const since = new Map<ObjectId, number>();
  let after = "";
  for (;;) {
    const page = db
      .select()
      .from(ndnUnreferenced)
      .where(gt(ndnUnreferenced.id, after))
      .orderBy(ndnUnreferenced.id)
      .limit(NOTED_PAGE)
      .all();
    for (const row of page) since.set(row.id as ObjectId, row.since);
    if (page.length < NOTED_PAGE) return since;
    after = (page.at(-1) as { id: string }).id;
    await pause();
  }
}

/**
 * Whether the state database (on this connection or another) or the store changed since
 * last asked: what keeps objects may have, then.
 */
class ChangeWatch {
  /** Other connections' commits (PRAGMA data_version: this connection's never move it). */
  private version: number;
  /** This connection's changes and the store's writes. */
  private mine: string;
  private changed = false;

  constructor(
    private readonly db: StateDb,
    private readonly store: ObjectStore,
  ) {
    this.version = this.dataVersion();
    this.mine = this.ownChanges();
  }

  /**
   * Runs the collector's own writes, which are not a change of what keeps objects. Only
   * this connection's count is taken as seen after them: another process's commit the
   * moment after one of them is still a change when next asked.
   */
  own(write: () => void): void {
    this.look();
    write();
    this.mine = this.ownChanges();
  }

  /** Whether anything changed since the last call (or since the watch began). */
  changedSinceAsked(): boolean {
    this.look();
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  private look(): void {
    const version = this.dataVersion();
    const mine = this.ownChanges();
    if (version !== this.version || mine !== this.mine) this.changed = true;
    this.version = version;
    this.mine = mine;
  }

  private dataVersion(): number {
    return (this.db.$client.query("PRAGMA data_version").get() as { data_version: number })
      .data_version;
  }

  private ownChanges(): string {
    const changes = Object.values(
      this.db.$client.query("SELECT total_changes()").get() as object,
    )[0];
    return `${changes}/${this.store.writes}`;
  }
}

/** Every object of the store, listed a directory at a time between turns of the event loop. */
async function listObjects(store: ObjectStore, pause: Pause): Promise<ObjectId[]> {
  const ids: ObjectId[] = [];
  let until = performance.now() + STEP_MS;
  for (const id of store.objects()) {
    ids.push(id);
    if (performance.now() < until) continue;
    await pause();
    until = performance.now() + STEP_MS;
  }
  return ids;
}

/**
 * Runs `each` on every item, in steps of about STEP_MS, each one inside `step` (which runs
 * what it is given: in a transaction, say), letting the event loop turn between them.
 */
async function inSteps<T>(
  items: readonly T[],
  step: (run: () => void) => void,
  each: (item: T) => void,
  pause: Pause,
): Promise<void> {
  let at = 0;
  while (at < items.length) {
    step(() => {
      const until = performance.now() + STEP_MS;
      do each(items[at++] as T);
      while (at < items.length && performance.now() < until);
    });
    await pause();
  }
}

/** Lets timers and I/O run (a resolved promise would not: it runs before them). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Every object the roots keep: the ids they name, and the chunks of those that are lists. */
export function liveObjects(
  store: ObjectStore,
  roots: readonly RootKind[],
  lists: ListReader = new ListReader(store),
): Set<ObjectId> {
  const live = new Set<ObjectId>();
  for (const root of roots)
    for (const id of root.ids()) {
      live.add(id);
      const parsed = parseObjectId(id);
      if (parsed?.kind !== "list") continue;
      for (const chunk of lists.chunksOf(parsed.id)) live.add(chunk);
    }
  return live;
}

/**
 * The chunks of the store's lists, each read once: a list never changes (its id is the
 * hash of its bytes), so a collection reads its lists ahead, a step at a time, and what
 * the roots keep is then worked out in one short step, as often as it must be.
 */
class ListReader {
  private readonly read = new Map<ChunkListId, readonly ObjectId[]>();

  constructor(private readonly store: ObjectStore) {}

  chunksOf(id: ChunkListId): readonly ObjectId[] {
    const known = this.read.get(id);
    if (known) return known;
    let chunks: readonly ObjectId[] | undefined;
    try {
      chunks = this.store.readList(id)?.chunks;
    } catch (error) {
      // A damaged list keeps nothing of its own; its chunks wait out their grace like any other.
      if (error instanceof BuckyError) return [];
      throw error;
    }
    // One not stored yet is read again when asked again: it may be stored meanwhile.
    if (chunks) this.read.set(id, chunks);
    return chunks ?? [];
  }

  /** Reads the lists the roots name, letting the event loop turn between steps. */
  async readAhead(roots: readonly RootKind[], pause: Pause): Promise<void> {
    const named: ChunkListId[] = [];
    for (const root of roots)
      for (const id of root.ids()) {
        const parsed = parseObjectId(id);
        if (parsed?.kind === "list") named.push(parsed.id);
      }
    await inSteps(
      named,
      (run) => run(),
      (id) => this.chunksOf(id),
      pause,
    );
  }
}

/**
 * Which kinds of root keep `id` now, as the collector counts them: naming it, or naming a
 * list it is a chunk of (`bucky rm` says these, so it never promises a removal that the
 * collector then does not make).
 */
export function referrers(store: ObjectStore, roots: readonly RootKind[], id: ObjectId): string[] {
  return roots.filter((root) => liveObjects(store, [root]).has(id)).map((root) => root.kind);
}

/**
 * Marks the collection as counting from the start, in a home made by this version: nothing
 * was stored before references were counted, so the first collection pins nothing (an
 * object stored before it runs, however soon, is no owner's until the owner says so).
 */
export function countFromStart(db: StateDb, nowMs: number): void {
  db.insert(ndnCollection).values({ id: 1, startedAt: nowMs }).onConflictDoNothing().run();
}

/**
 * The first collection on this device: objects stored before references were counted
 * (top level: not a chunk of a list) that no root names and that are not app packages
 * were stored by the owner. They are pinned as such.
 */
async function pinWhatCameBefore(
  db: StateDb,
  store: ObjectStore,
  roots: readonly RootKind[],
  nowMs: number,
  log: Log,
  lists: ListReader,
  pause: Pause,
): Promise<void> {
  if (db.select().from(ndnCollection).get()) return;
  await lists.readAhead(roots, pause);
  const live = liveObjects(store, roots, lists);
  const inLists = new Set<ObjectId>();
  const all = await listObjects(store, pause);
  await inSteps(
    all,
    (run) => run(),
    (id) => {
      const parsed = parseObjectId(id);
      if (parsed?.kind === "list")
        for (const chunk of lists.chunksOf(parsed.id)) inLists.add(chunk);
    },
    pause,
  );
  // Pinning more than one step would have (an object named meanwhile) only keeps it.
  let pinned = 0;
  await inSteps(
    all,
    (run) => db.transaction(run, IMMEDIATE),
    (id) => {
      if (live.has(id) || inLists.has(id) || isPackage(store, lists, id)) return;
      pin(db, id, "stored before bucky counted references", nowMs);
      pinned++;
    },
    pause,
  );
  db.insert(ndnCollection).values({ id: 1, startedAt: nowMs }).run();
  if (pinned > 0) log.info("named data stored before kept as the owner's", { objects: pinned });
}

function isPackage(store: ObjectStore, lists: ListReader, id: ObjectId): boolean {
  const parsed = parseObjectId(id);
  let first: ObjectId | undefined = id;
  if (parsed?.kind === "list") first = lists.chunksOf(parsed.id)[0];
  const head = first ? headOf(store, first) : undefined;
  return head !== undefined && PACKAGE_HEAD.every((byte, i) => head[i] === byte);
}

function headOf(store: ObjectStore, id: ObjectId): Uint8Array | undefined {
  if (parseObjectId(id)?.kind !== "chunk") return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(store.pathOf(id), "r");
    const head = new Uint8Array(PACKAGE_HEAD.length);
    return readSync(fd, head, 0, head.length, 0) === head.length ? head : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Since when `id` is noted unreferenced, if it is: for `bucky rm`'s answer. */
export function unreferencedSince(db: StateDb, id: ObjectId): number | undefined {
  return db.select().from(ndnUnreferenced).where(eq(ndnUnreferenced.id, id)).get()?.since;
}
