/**
 * What the owner stored with `bucky put` on this device, kept until `bucky rm` releases
 * it: the `put` root of named data (lib/ndn/roots.ts).
 */
import { eq } from "drizzle-orm";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { StateQueries } from "../store/db.ts";
import { ndnPins } from "../store/schema.ts";

/**
 * Pins `id` as stored now: a pin put again is dated anew, since a release the zone made
 * before it (heard later, lib/ndn/stored-file-copies.ts) must not let go what was put after.
 */
export function pin(db: StateQueries, id: ObjectId, note: string, nowMs: number): void {
  db.insert(ndnPins)
    .values({ id, note: note.slice(0, 200), pinnedAt: nowMs })
    .onConflictDoUpdate({ target: ndnPins.id, set: { note: note.slice(0, 200), pinnedAt: nowMs } })
    .run();
}

/** Releases what the owner stored; false when it was not. */
export function unpin(db: StateQueries, id: ObjectId): boolean {
  return db.delete(ndnPins).where(eq(ndnPins.id, id)).returning().all().length > 0;
}

/** Whether the owner stored `id` on this device (and has not released it here). */
export function isPinned(db: StateQueries, id: ObjectId): boolean {
  return db.select({ id: ndnPins.id }).from(ndnPins).where(eq(ndnPins.id, id)).get() !== undefined;
}
