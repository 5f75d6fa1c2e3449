/**
 * Which of some records fit a budget of bytes: each, in the order given, that still fits;
 * a record with no size (its writer said none a size can be) never does. Read from the
 * zone state alone, in an order every device sorts alike, it gives every device the same
 * answer (the public files' budget, lib/gateway/public-budget.ts; the stored files',
 * lib/ndn/stored-files.ts).
 */
export interface Sized {
  readonly sizeBytes: number | null;
}

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
