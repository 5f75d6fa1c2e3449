/**
 * Which of some records fit a budget of bytes. Read from the zone state alone, in an order
 * every device sorts alike, it gives every device the same answer (the public files'
 * budget, lib/gateway/public-budget.ts; the stored files', lib/ndn/stored-files.ts).
 *
 * Records are members' words: any member may write one, with any size and any time (a
 * changeset's clock is bounded ahead, not behind). Counted in one order, zone-wide, one
 * record of a member's (the whole budget, first) left every other record past the budget,
 * and every device dropped its copies of them. So each device that wrote records has a
 * share of the budget, the same for all, as large as lets them fit together (one that
 * needs less leaves the rest to the others), and its own records are counted in its own
 * order: what a device writes can only push its own records past the budget.
 */
import { compareCodeUnits } from "../../protocol/text-order.ts";

export interface Sized {
  readonly sizeBytes: number | null;
}

/** A record as the state keeps it: the device that wrote it, and when by its clock. */
export interface Authored extends Sized {
  readonly author: string;
  readonly hlcMs: number;
  readonly hlcCounter: number;
  readonly id: string;
}

/**
 * Each record, in the order given, that still fits `budgetBytes`; a record with no size
 * (its writer said none a size can be) never does.
 */
export function splitByBudget<T extends Sized>(
  records: readonly T[],
  budgetBytes: number,
): { within: T[]; past: T[]; usedBytes: number } {
  const within: T[] = [];
  const past: T[] = [];
  let usedBytes = 0;
  for (const record of records) {
    if (record.sizeBytes !== null && usedBytes + record.sizeBytes <= budgetBytes) {
      usedBytes += record.sizeBytes;
      within.push(record);
    } else past.push(record);
  }
  return { within, past, usedBytes };
}

/** The order records were written in, as the state keeps it: the same on every device. */
export function compareWritten(a: Authored, b: Authored): number {
  return (
    a.hlcMs - b.hlcMs ||
    a.hlcCounter - b.hlcCounter ||
    compareCodeUnits(a.author, b.author) ||
    compareCodeUnits(a.id, b.id)
  );
}

/**
 * Which records fit `budgetBytes` when each author's records fit a share of it, the same
 * share for every author, as large as keeps them all within the budget. An author alone
 * has the whole budget. Both lists are in the order written.
 */
export function splitByBudgetPerAuthor<T extends Authored>(
  records: readonly T[],
  budgetBytes: number,
  /** Whose share a record takes: its author's unless said (an app's, on its device). */
  shareOf: (record: T) => string = (record) => record.author,
): { within: T[]; past: T[]; usedBytes: number } {
  const byAuthor = new Map<string, T[]>();
  for (const record of [...records].sort(compareWritten)) {
    const key = shareOf(record);
    const own = byAuthor.get(key) ?? [];
    own.push(record);
    byAuthor.set(key, own);
  }
  const usedWith = (shareBytes: number) => {
    let used = 0;
    for (const own of byAuthor.values()) used += splitByBudget(own, shareBytes).usedBytes;
    return used;
  };
  // A share that fits, found by halving (a share of 0 always does). Files being whole,
  // what an author's records use need not grow with its share: the share found fits, and
  // every device finds the same, if not always the largest.
  let share = budgetBytes;
  if (usedWith(share) > budgetBytes) {
    let fits = 0;
    let tooMuch = budgetBytes;
    while (tooMuch - fits > 1) {
      const middle = Math.floor((fits + tooMuch) / 2);
      if (usedWith(middle) <= budgetBytes) fits = middle;
      else tooMuch = middle;
    }
    share = fits;
  }
  const within: T[] = [];
  const passedOver: { record: T; authorUsedBytes: number }[] = [];
  let usedBytes = 0;
  for (const own of byAuthor.values()) {
    const split = splitByBudget(own, share);
    within.push(...split.within);
    for (const record of split.past) passedOver.push({ record, authorUsedBytes: split.usedBytes });
    usedBytes += split.usedBytes;
  }
  // Files are whole: what the shares leave of the budget goes to the authors that used
  // least, each's records in its own order.
  passedOver.sort(
    (a, b) => a.authorUsedBytes - b.authorUsedBytes || compareWritten(a.record, b.record),
  );
  const rest = splitByBudget(
    passedOver.map(({ record }) => record),
    budgetBytes - usedBytes,
  );
  within.push(...rest.within);
  return {
    within: within.sort(compareWritten),
    past: rest.past.sort(compareWritten),
    usedBytes: usedBytes + rest.usedBytes,
  };
}
