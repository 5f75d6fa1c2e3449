/** Disk usage facts for tests: an empty device but for its leftovers. */
import type { UsageFacts } from "./payload.ts";

/** A device's usage holding nothing but `leftovers` (with or without how to remove them). */
export function usageWith<L extends { what: string; bytes: number; remove?: string }>(
  leftovers: L[],
) {
  return {
    state: { bytes: 0, changesets: 0, keys: 0, checkpoint: null },
    namedData: { bytes: 0, objects: 0 },
    apps: {} as UsageFacts["apps"],
    logsBytes: 0,
    backupCacheBytes: 0,
    leftovers,
  };
}
