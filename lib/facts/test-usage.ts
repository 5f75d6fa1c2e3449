/** Disk facts for tests: a device nearly full, with nothing on it but its leftovers. */
import type { DeviceDisk } from "../zone/status.ts";
import type { UsageFacts } from "./payload.ts";

const GiB = 1024 ** 3;

/** A nearly full disk, as a device says it: 1 GiB free of 100. */
export const NEARLY_FULL = { freeBytes: GiB, totalBytes: 100 * GiB } as const;

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

/** A device's disk in `bucky status --disk`: nearly full, its usage nothing but `leftovers`. */
export function diskWith(
  device: string,
  leftovers: { what: string; bytes: number; remove?: string }[],
): DeviceDisk {
  return { device, ...NEARLY_FULL, nearlyFull: true, usage: usageWith(leftovers) };
}
