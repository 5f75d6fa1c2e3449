/**
 * How much the zone serves publicly: every gateway keeps a copy of every public object
 * (lib/gateway/public-copies.ts), so without a bound one `bucky put --public` of a large
 * file filled the disk of every gateway. The zone's public objects, by the sizes they were
 * made public with, fit a budget (`system/public-budget`, in bytes; PUBLIC_BUDGET_BYTES
 * when not set): making one public past it is refused. What is past it anyway (two devices
 * made files public at once, or a member wrote the records by hand) is neither copied nor
 * served by any gateway, and `bucky status` says so. Which objects are within is read from
 * the zone state alone, in the order they were made public, so every device gives the same
 * answer.
 */
import type { SigningKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import {
  PUBLIC_BUDGET_KEY,
  type PublicBudgetValue,
  readPublicBudget,
  signPublicBudget,
} from "../../protocol/public-budget.ts";
import { isRecord } from "../../protocol/shape.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { splitByBudget } from "../ndn/within-budget.ts";
import {
  parsedValue,
  type StateReader,
  sqliteOf,
  stateRowsMatching,
  stateValue,
} from "../store/reads.ts";
import { formatBytes } from "../units.ts";

/** Where the zone records its public objects, one key each. */
export const PUBLIC_PREFIX = "system/public/";

/** What the zone serves publicly at most, when `system/public-budget` does not say. */
export const PUBLIC_BUDGET_BYTES = 8 * 1024 ** 3;
/** Where the owner sets another budget, signed (protocol/public-budget.ts). */
export { PUBLIC_BUDGET_KEY };

/** A public object as its record says: its size, and when it was made public. */
export interface PublicRecord {
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

/**
 * The budget the owner set, or the default. Only a budget the owner signed counts: the
 * write rules refuse any other, and one written before they did (a plain number any
 * member could write) is passed over.
 */
export function publicBudgetBytes(db: StateReader): number {
  const value = parsedValue(stateValue(db, PUBLIC_BUDGET_KEY));
  if (value === undefined) return PUBLIC_BUDGET_BYTES;
  const zone = sqliteOf(db).query<{ zone: ZoneId }, []>("SELECT zone_id AS zone FROM node").get();
  if (!zone) return PUBLIC_BUDGET_BYTES;
  try {
    return readPublicBudget(value, zone.zone).bytes;
  } catch (error) {
    if (error instanceof ProtocolError) return PUBLIC_BUDGET_BYTES;
    throw error;
  }
}

/**
 * The value `bucky state set system/public-budget <bytes>` writes: `bytes` signed by the
 * owner key, which this device must hold (every device refuses a budget the owner did not
 * sign: a member could otherwise unpublish every file, or fill every gateway's disk).
 */
export function ownerSignedBudget(
  owner: {
    readonly zoneId: ZoneId;
    readonly holdsOwnerKey: boolean;
    now(): number;
    ownerKey(): SigningKey;
  },
  bytes: unknown,
): PublicBudgetValue {
  if (!Number.isSafeInteger(bytes) || (bytes as number) < 0)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `the budget for public files is a whole number of bytes, not ${JSON.stringify(bytes)}`,
      `For example: \`bucky state set ${PUBLIC_BUDGET_KEY} ${PUBLIC_BUDGET_BYTES}\` (8 GiB).`,
    );
  if (!owner.holdsOwnerKey)
    throw new BuckyError(
      "E_PERMISSION",
      `${PUBLIC_BUDGET_KEY} is the owner's to set: a budget must be signed by the owner key, which this device does not hold, and every device refuses one the owner did not sign`,
      "Set it on a device holding the owner key (the one the zone was created on), or give this one the key first (`bucky zone owner-key < phrase.txt`, then restart its daemon).",
    );
  return signPublicBudget({
    zone: owner.zoneId,
    bytes: bytes as number,
    atMs: owner.now(),
    owner: owner.ownerKey(),
  });
}

/** Every public object's record, in the order made public (then by id). */
export function publicRecords(db: StateReader): PublicRecord[] {
  return stateRowsMatching(db, `${PUBLIC_PREFIX}*`)
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
        },
      ];
    })
    .sort((a, b) => compareCodeUnits(a.at, b.at) || compareCodeUnits(a.id, b.id));
}

/** Which public objects fit the budget: each, in the order made public, that still fits. */
export function publicBudget(db: StateReader): PublicBudget {
  const budgetBytes = publicBudgetBytes(db);
  const { within, past } = splitByBudget(publicRecords(db), budgetBytes);
  return { budgetBytes, within, past };
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
  return `${note.files} public ${note.files === 1 ? "file" : "files"} (${formatBytes(note.bytes)}) ${note.files === 1 ? "is" : "are"} past the zone's budget for public files (${formatBytes(note.budgetBytes)}): no gateway copies or serves ${note.files === 1 ? "it" : "them"}; make some private with \`bucky rm --public <id>\`, or raise the budget with \`bucky state set ${PUBLIC_BUDGET_KEY} <bytes>\``;
}
