/**
 * How far this device's hot changes went to each target: the local order
 * (`changesets.local_order`, which only grows) of the newest changeset the target has from
 * this device. What waits for a target that is away lives in the daemon's memory; a daemon
 * stopped, or killed, before the target came back would otherwise lose it, and a restore
 * would lack every change since the device's last backup. Its next start ships from here
 * what came after. Kept in `<home>/backup/hot-shipped.json`, written by the daemon's
 * shipper alone.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isRecord } from "../../protocol/shape.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import type { HomePaths } from "../home.ts";

/** The local order each target has this device's changesets through, by target name. */
export type HotShipped = Record<string, number>;

/**
 * What `hot-shipped.json` says, or undefined when it cannot be read as it was written (a
 * file edited by hand, a disk that lost it): the caller starts afresh and says so.
 */
export function readHotShipped(paths: HomePaths): HotShipped | undefined {
  const file = shippedFile(paths);
  if (!existsSync(file)) return {};
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!isRecord(value)) return undefined;
    const entries = Object.entries(value);
    if (!entries.every(([, order]) => Number.isSafeInteger(order) && (order as number) >= 0))
      return undefined;
    return Object.fromEntries(entries) as HotShipped;
  } catch {
    return undefined;
  }
}

export function writeHotShipped(paths: HomePaths, shipped: HotShipped): void {
  mkdirSync(paths.backupDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(shippedFile(paths), `${JSON.stringify(shipped, null, 2)}\n`, 0o600);
}

/**
 * Forgets the record, for a zone state put in its home's place (a restore): the local
 * orders it names are another database's.
 */
export function forgetHotShipped(paths: HomePaths): void {
  rmSync(shippedFile(paths), { force: true });
}

function shippedFile(paths: HomePaths): string {
  return join(paths.backupDir, "hot-shipped.json");
}
