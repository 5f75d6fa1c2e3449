/**
 * Named objects the zone made public: gateways serve them to anyone at `/ndn/<id>`, and
 * every device keeps them, until one of the zone's devices makes them private again (the
 * record gone from the zone state, every gateway stops serving them as it syncs).
 */
import { eq } from "drizzle-orm";
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { formatBytes } from "../units.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { PUBLIC_BUDGET_KEY, PUBLIC_PREFIX, publicBudget } from "./public-budget.ts";

const publicKey = (id: string) => `${PUBLIC_PREFIX}${id}`;

export function isPublicObject(db: StateQueries, id: ObjectId): boolean {
  const row = db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, publicKey(id)))
    .get();
  return Boolean(row?.value);
}

/**
 * Makes `id` (`size` bytes) public, within the zone's budget for public files: past it, it
 * is refused and nothing is written. One public already is left as it was made public: its
 * record written again would move it last in the budget's order, where it might no longer fit.
 */
export function markPublic(
  zone: ZoneWriter,
  id: ObjectId,
  size: number,
): { id: ObjectId; public: true } {
  const { within, budgetBytes } = publicBudget(zone.db);
  if (within.some((record) => record.id === id)) return { id, public: true };
  const usedBytes = within.reduce((sum, record) => sum + (record.sizeBytes ?? 0), 0);
  if (usedBytes + size > budgetBytes)
    throw new BuckyError(
      "E_TOO_LARGE",
      `${id} (${formatBytes(size)}) would take the zone's public files past their budget: ${formatBytes(usedBytes)} of ${formatBytes(budgetBytes)} are public already, and every gateway keeps a copy of each`,
      `It is stored here, not public. Make other files private (\`bucky rm --public <id>\`), or raise the budget (\`bucky state set ${PUBLIC_BUDGET_KEY} <bytes>\`), then make it public again.`,
    );
  // One past the budget before (two made public at once, say) is written anew, last.
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
