/**
 * How much the zone serves publicly: every gateway keeps a copy of every public object
 * (lib/gateway/public-copies.ts), so without a bound one `bucky put --public` of a large
 * file filled the disk of every gateway. The zone's public objects, by the sizes they were
 * made public with, fit a budget (`system/public-budget`, in bytes; PUBLIC_BUDGET_BYTES
 * when not set): making one public past it is refused. What is past it anyway (two devices
 * made files public at once, or a member wrote the records by hand) is neither copied nor
 * served by any gateway, and `bucky status` says so. Which objects are within is read from
 * the zone state alone, each device that made objects public having a share of the budget
 * and its objects counted in the order it wrote them (lib/ndn/within-budget.ts), so every
 * device gives the same answer and no member's records push another's past it.
 */
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { isRecord } from "../../protocol/shape.ts";
import { PUBLIC_BUDGET_KEY } from "../../protocol/zone-budget.ts";
import { type Authored, compareWritten, splitByBudgetPerAuthor } from "../ndn/within-budget.ts";
import { budgetBytes } from "../state/budgets.ts";
import { parsedValue, type StateReader, sqliteOf } from "../store/reads.ts";
import { formatBytes } from "../units.ts";

/** Where the zone records its public objects, one key each. */
export const PUBLIC_PREFIX = "system/public/";

/** What the zone serves publicly at most, when `system/public-budget` does not say. */
export const PUBLIC_BUDGET_BYTES = 8 * 1024 ** 3;
/** Where the owner sets another budget, signed (protocol/zone-budget.ts). */
export { PUBLIC_BUDGET_KEY };

/** A public object as its record says: its size, and when it was made public. */
export interface PublicRecord extends Authored {
  readonly id: ObjectId;
  /** As it was made public with; null when the record says none a size can be. */
  readonly sizeBytes: number | null;
  readonly at: string;
}

/** What is within the budget, and what is past it. */
export interface PublicBudget {
  readonly budgetBytes: number;
  /** In the order made public: copied and served by the gateways. */
  readonly within: readonly PublicRecord[];
  /** Neither copied nor served; a record with no size is always past it. */
  readonly past: readonly PublicRecord[];
}

/** Every public object's record, in the order written, as the state keeps it (not its `at`). */
export function publicRecords(db: StateReader): PublicRecord[] {
  return sqliteOf(db)
    .query<
      { key: string; value: string | null; author: string; hlcMs: number; hlcCounter: number },
      [string]
    >(
      "SELECT key, value, author, hlc_ms AS hlcMs, hlc_counter AS hlcCounter FROM state WHERE key GLOB ?",
    )
    .all(`${PUBLIC_PREFIX}*`)
    .flatMap((row) => {
      const id = parseObjectId(row.key.slice(PUBLIC_PREFIX.length))?.id;
      if (!id || row.value === null) return [];
      const said = parsedValue(row.value);
      const size = isRecord(said) ? said.size : undefined;
      const at = isRecord(said) && typeof said.at === "string" ? said.at : "";
      return [
        {
          id,
          sizeBytes: Number.isSafeInteger(size) && (size as number) >= 0 ? (size as number) : null,
          at,
          author: row.author,
          hlcMs: row.hlcMs,
          hlcCounter: row.hlcCounter,
        },
      ];
    })
    .sort(compareWritten);
}

/**
 * Which public objects fit the budget: each device that made objects public has a share of
 * it (lib/ndn/within-budget.ts), and each of its objects, in the order it made them
 * public, that still fits its share is within.
 */
export function publicBudget(db: StateReader): PublicBudget {
  const bytes = budgetBytes(db, PUBLIC_BUDGET_KEY, PUBLIC_BUDGET_BYTES);
  const { within, past } = splitByBudgetPerAuthor(publicRecords(db), bytes);
  return { budgetBytes: bytes, within, past };
}

/** The sizes the objects within the budget were made public with, by id. */
export function sizesWithinBudget(db: StateReader): ReadonlyMap<ObjectId, number> {
  return new Map(publicBudget(db).within.map((record) => [record.id, record.sizeBytes ?? 0]));
}

/** What `bucky status` says of the public objects past the budget (none: nothing to say). */
export interface PublicPastBudgetNote {
  readonly files: number;
  /** Their sizes as made public, added (those with none count nothing). */
  readonly bytes: number;
  readonly budgetBytes: number;
}

export function publicPastBudgetNotes(db: StateReader): PublicPastBudgetNote[] {
  const { past, budgetBytes } = publicBudget(db);
  if (past.length === 0) return [];
  const bytes = past.reduce((sum, record) => sum + (record.sizeBytes ?? 0), 0);
  return [{ files: past.length, bytes, budgetBytes }];
}

export function describePublicPastBudget(note: PublicPastBudgetNote): string {
  return `${note.files} public ${note.files === 1 ? "file" : "files"} (${formatBytes(note.bytes)}) ${note.files === 1 ? "is" : "are"} past the zone's budget for public files (${formatBytes(note.budgetBytes)}): no gateway copies or serves ${note.files === 1 ? "it" : "them"}; make some private with \`bucky rm --public <id>\`, or raise the budget with \`bucky state set ${PUBLIC_BUDGET_KEY} <bytes>\` on a device holding the owner key`;
}
