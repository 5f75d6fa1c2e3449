/**
 * The zone's budgets (public files, stored files) as the owner sets them: written signed
 * by the owner key (protocol/zone-budget.ts), read back checked, the default where none
 * was set or what is there is not the owner's.
 */
import type { SigningKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import {
  type BudgetKey,
  type BudgetValue,
  PUBLIC_BUDGET_KEY,
  readBudget,
  signBudget,
} from "../../protocol/zone-budget.ts";
import { BuckyError } from "../errors.ts";
import { parsedValue, type StateReader, sqliteOf, stateValue } from "../store/reads.ts";
import { formatBytes } from "../units.ts";

/**
 * The budget the owner set, or `fallback`. Only a budget the owner signed counts: the
 * write rules refuse any other, and one written before they did (a plain number any
 * member could write) is passed over.
 */
export function budgetBytes(db: StateReader, key: BudgetKey, fallback: number): number {
  const value = parsedValue(stateValue(db, key));
  if (value === undefined) return fallback;
  const zone = sqliteOf(db).query<{ zone: ZoneId }, []>("SELECT zone_id AS zone FROM node").get();
  if (!zone) return fallback;
  try {
    return readBudget(key, value, zone.zone).bytes;
  } catch (error) {
    if (error instanceof ProtocolError) return fallback;
    throw error;
  }
}

/**
 * A budget the state holds that the owner did not sign (a plain number written before
 * budgets were the owner's): every device passes it over for the default, while `bucky
 * state get` still shows it, so `bucky status` says so on every device.
 */
export interface UnsignedBudgetNote {
  readonly key: BudgetKey;
  /** The budget that applies instead. */
  readonly defaultBytes: number;
}

export function unsignedBudgetNotes(
  db: StateReader,
  budgets: readonly { readonly key: BudgetKey; readonly defaultBytes: number }[],
): UnsignedBudgetNote[] {
  return budgets.flatMap(({ key, defaultBytes }) =>
    stateValue(db, key) !== undefined && budgetBytes(db, key, -1) === -1
      ? [{ key, defaultBytes }]
      : [],
  );
}

export function describeUnsignedBudget(note: UnsignedBudgetNote): string {
  return `${note.key} holds a budget the owner did not sign: the default ${formatBytes(note.defaultBytes)} applies; set it again with \`bucky state set ${note.key} <bytes>\` on a device holding the owner key`;
}

/**
 * The value `bucky state set <budget> <bytes>` writes: `bytes` signed by the owner key,
 * which this device must hold (every device refuses a budget the owner did not sign).
 * `example` is the default, for the hint of a value that is no budget.
 */
export function ownerSignedBudget(
  owner: {
    readonly zoneId: ZoneId;
    readonly holdsOwnerKey: boolean;
    now(): number;
    ownerKey(): SigningKey;
  },
  key: BudgetKey,
  bytes: unknown,
  example: number,
): BudgetValue {
  if (!Number.isSafeInteger(bytes) || (bytes as number) < 0)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${key} is a whole number of bytes, not ${JSON.stringify(bytes)}`,
      `For example: \`bucky state set ${key} ${example}\` (${formatBytes(example)}).`,
    );
  if (!owner.holdsOwnerKey)
    throw new BuckyError(
      "E_PERMISSION",
      `${key} is the owner's to set: a budget must be signed by the owner key, which this device does not hold, and every device refuses one the owner did not sign`,
      "Set it on a device holding the owner key (the one the zone was created on), or give this one the key first (`bucky zone owner-key < phrase.txt`, then restart its daemon).",
    );
  return signBudget({
    key,
    zone: owner.zoneId,
    bytes: bytes as number,
    atMs: owner.now(),
    owner: owner.ownerKey(),
  });
}

/**
 * Why `bucky state del <budget>` is refused, on every device, the owner's too: a budget is
 * never deleted (the write rules refuse it), only set again. Said as such, not as a key
 * bucky manages, which left the owner looking for another way to delete it.
 */
export function budgetNotDeletable(key: BudgetKey, defaultBytes: number): BuckyError {
  const what = key === PUBLIC_BUDGET_KEY ? "public files" : "stored files";
  return new BuckyError(
    "E_PERMISSION",
    `${key} cannot be deleted: the zone always has a budget for ${what} (its default until the owner sets one), and every device refuses its deletion`,
    `The owner sets another instead, on a device holding the owner key: \`bucky state set ${key} <bytes>\` (the default is ${defaultBytes} (${formatBytes(defaultBytes)})).`,
  );
}
