/**
 * Whether this device's hot changes reach each target, for the zone to hear of: a restore
 * replays the changes shipped within seconds, and with them failing while the hourly
 * backups work, up to an hour of changes is in no backup, which every device's status
 * showed as healthy. Kept in `<home>/backup/hot.json`, written by the daemon's shipper
 * alone (backup runs write status.json), and said in the device's facts.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isRecord } from "../../protocol/shape.ts";
import { writeFileAtomic } from "../atomic-file.ts";
import type { HomePaths } from "../home.ts";

export interface HotFailing {
  /** When the hot changes to the target first failed since they last went (RFC 3339). */
  readonly since: string;
  readonly message: string;
}

/** The targets this device's hot changes fail to reach, by name. */
export function readHotFailing(paths: HomePaths): Record<string, HotFailing> {
  const file = hotFile(paths);
  if (!existsSync(file)) return {};
  try {
    const value: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!isRecord(value)) return {};
    // Said to the zone as read: an entry not of its shape (a file edited by hand) is none.
    return Object.fromEntries(
      Object.entries(value).filter(
        (entry): entry is [string, HotFailing] =>
          isRecord(entry[1]) &&
          typeof entry[1].since === "string" &&
          typeof entry[1].message === "string",
      ),
    );
  } catch {
    return {};
  }
}

/** Records that the hot changes to `target` fail (since when they first did, if they still do). */
export function recordHotFailing(
  paths: HomePaths,
  target: string,
  at: string,
  message: string,
): void {
  const all = readHotFailing(paths);
  all[target] = { since: all[target]?.since ?? at, message: message.slice(0, 500) };
  write(paths, all);
}

/** Records that the hot changes to `target` go again. */
export function clearHotFailing(paths: HomePaths, target: string): void {
  const all = readHotFailing(paths);
  if (!(target in all)) return;
  delete all[target];
  write(paths, all);
}

function write(paths: HomePaths, all: Record<string, HotFailing>): void {
  mkdirSync(paths.backupDir, { recursive: true, mode: 0o700 });
  writeFileAtomic(hotFile(paths), `${JSON.stringify(all, null, 2)}\n`, 0o600);
}

function hotFile(paths: HomePaths): string {
  return join(paths.backupDir, "hot.json");
}
