/**
 * Named objects the zone made public: gateways serve them to anyone at `/ndn/<id>`, and
 * every device keeps them, until one of the zone's devices makes them private again (the
 * record gone from the zone state, every gateway stops serving them as it syncs).
 */
import { eq } from "drizzle-orm";
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state } from "../store/schema.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";

export const PUBLIC_PREFIX = "system/public/";
const publicKey = (id: string) => `${PUBLIC_PREFIX}${id}`;

/** Every object the zone serves publicly now. */
export function publicObjects(db: StateQueries): ObjectId[] {
  return db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(keyGlob(`${PUBLIC_PREFIX}*`))
    .all()
    .filter((row) => row.value !== null)
    .flatMap((row) => parseObjectId(row.key.slice(PUBLIC_PREFIX.length))?.id ?? []);
}

export function isPublicObject(db: StateQueries, id: ObjectId): boolean {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, publicKey(id)))
    .get();
  return Boolean(row?.value);
}

export function markPublic(
  zone: ZoneWriter,
  id: ObjectId,
  size: number,
): { id: ObjectId; public: true } {
  zone.write([
    { key: publicKey(id), value: JSON.stringify({ size, at: new Date(zone.now()).toISOString() }) },
  ]);
  zone.log.info("object made public", { id });
  return { id, public: true };
}

/**
 * No gateway of the zone serves `id` any more, nor does public keep it: `wasPublic` says
 * whether it was (nothing is written when it was not).
 */
export function unmarkPublic(
  zone: ZoneWriter,
  id: ObjectId,
): { id: ObjectId; public: false; wasPublic: boolean } {
  const wasPublic = isPublicObject(zone.db, id);
  if (wasPublic) {
    zone.write([{ key: publicKey(id), value: null }]);
    zone.log.info("object no longer public", { id });
  }
  return { id, public: false, wasPublic };
}
