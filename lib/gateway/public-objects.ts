/** Named objects the zone made public: gateways serve them to anyone at `/ndn/<id>`. */
import { eq } from "drizzle-orm";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";

const publicKey = (id: string) => `system/public/${id}`;

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
