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
import { eq } from "drizzle-orm";
import { type ChunkListId, type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import type { StateDb } from "../store/db.ts";
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

export function collectGarbage(options: {
  readonly db: StateDb;
  readonly store: ObjectStore;
  readonly roots: readonly RootKind[];
  readonly nowMs: number;
  readonly graceMs: number;
  readonly log: Log;
}): Collected {
  const { db, store, nowMs, log } = options;
  pinWhatCameBefore(db, store, options.roots, nowMs, log);
  const live = liveObjects(store, options.roots);
  const since = new Map(
    db
      .select()
      .from(ndnUnreferenced)
      .all()
      .map((row) => [row.id, row.since]),
  );
  let removed = 0;
  let removedBytes = 0;
  let waiting = 0;
  for (const id of store.objects()) {
    if (live.has(id)) {
      if (since.has(id)) db.delete(ndnUnreferenced).where(eq(ndnUnreferenced.id, id)).run();
      continue;
    }
    const first = since.get(id);
    if (first === undefined) {
      db.insert(ndnUnreferenced).values({ id, since: nowMs }).onConflictDoNothing().run();
      waiting++;
    } else if (nowMs - first >= options.graceMs) {
      removedBytes += store.remove(id);
      db.delete(ndnUnreferenced).where(eq(ndnUnreferenced.id, id)).run();
      removed++;
    } else waiting++;
    since.delete(id);
  }
  // Noted objects that are gone (removed by hand, or a restore replaced the store): one
  // stored again starts its grace period afresh, whatever names it meanwhile.
  for (const id of since.keys()) db.delete(ndnUnreferenced).where(eq(ndnUnreferenced.id, id)).run();
  if (removed > 0) log.info("named data collected", { removed, bytes: removedBytes, waiting });
  return { removed, removedBytes, waiting };
}

/** Every object the roots keep: the ids they name, and the chunks of those that are lists. */
export function liveObjects(store: ObjectStore, roots: readonly RootKind[]): Set<ObjectId> {
  const live = new Set<ObjectId>();
  for (const root of roots)
    for (const id of root.ids()) {
      live.add(id);
      const parsed = parseObjectId(id);
      if (parsed?.kind !== "list") continue;
      for (const chunk of chunksOf(store, parsed.id)) live.add(chunk);
    }
  return live;
}

/**
 * Which kinds of root keep `id` now, as the collector counts them: naming it, or naming a
 * list it is a chunk of (`bucky rm` says these, so it never promises a removal that the
 * collector then does not make).
 */
export function referrers(store: ObjectStore, roots: readonly RootKind[], id: ObjectId): string[] {
  return roots.filter((root) => liveObjects(store, [root]).has(id)).map((root) => root.kind);
}

function chunksOf(store: ObjectStore, id: ChunkListId): readonly ObjectId[] {
  try {
    return store.readList(id)?.chunks ?? [];
  } catch (error) {
    // A damaged list keeps nothing of its own; its chunks wait out their grace like any other.
    if (error instanceof BuckyError) return [];
    throw error;
  }
}

/**
 * The first collection on this device: objects stored before references were counted
 * (top level: not a chunk of a list) that no root names and that are not app packages
 * were stored by the owner. They are pinned as such.
 */
function pinWhatCameBefore(
  db: StateDb,
  store: ObjectStore,
  roots: readonly RootKind[],
  nowMs: number,
  log: Log,
): void {
  if (db.select().from(ndnCollection).get()) return;
  const live = liveObjects(store, roots);
  const inLists = new Set<ObjectId>();
  const all = [...store.objects()];
  for (const id of all) {
    const parsed = parseObjectId(id);
    if (parsed?.kind === "list") for (const chunk of chunksOf(store, parsed.id)) inLists.add(chunk);
  }
  let pinned = 0;
  for (const id of all) {
    if (live.has(id) || inLists.has(id) || isPackage(store, id)) continue;
    pin(db, id, "stored before bucky counted references", nowMs);
    pinned++;
  }
  db.insert(ndnCollection).values({ id: 1, startedAt: nowMs }).run();
  if (pinned > 0) log.info("named data stored before kept as the owner's", { objects: pinned });
}

function isPackage(store: ObjectStore, id: ObjectId): boolean {
  const parsed = parseObjectId(id);
  let first: ObjectId | undefined = id;
  if (parsed?.kind === "list") first = chunksOf(store, parsed.id)[0];
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
