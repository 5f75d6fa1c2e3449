/**
 * The cap on an app's live zone state. Every device holds the whole state, so an app that
 * kept adding keys (each within the write pace) would grow every device's database for
 * good. What counts against an app is every live byte (key and value, as UTF-8) under each
 * `apps/<name>/` it may write: its own prefix and the segments of the prefixes it was
 * granted (`state.write:apps/shared/` counts all of `apps/shared/`, whoever wrote there).
 * Counting whole segments keeps the figure one indexed read per segment (the table
 * `app_state_bytes`, kept by triggers on the state), and the same on every device, since
 * it comes from the zone state alone; what the app wrote there is all it can free.
 */
import { APPS_STATE_ROOT, ownStatePrefix, statePrefixes } from "../../protocol/app-permissions.ts";
import { BuckyError } from "../errors.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { formatBytes } from "../units.ts";

/**
 * 16 MiB: room for some 250 of the largest values (64 KiB) or tens of thousands of small
 * records, which is what the zone state is for; a few apps at the cap are still small next
 * to a device's disk. Bulk data belongs in the app's data directory or in named data.
 */
export const APP_STATE_MAX_BYTES = 16 * 1024 * 1024;

/** The names under `apps/` whose keys count against `app`: those it may write under. */
export function countedSegments(app: string, permissions: readonly string[]): string[] {
  const prefixes = statePrefixes(permissions, app, "write");
  const segments = new Set(prefixes.map((prefix) => segmentOf(prefix)));
  // Its own prefix always counts: what it wrote before a reinstall took its permission is still there.
  segments.add(segmentOf(ownStatePrefix(app)));
  return [...segments].filter((segment) => segment !== "").sort();
}

/** The live bytes under `apps/<segment>/` for each of `segments`, added up. */
export function stateBytesUnder(db: StateReader, segments: readonly string[]): number {
  const read = sqliteOf(db).query<{ bytes: number }, [string]>(
    "SELECT bytes FROM app_state_bytes WHERE app = ?",
  );
  return segments.reduce((sum, segment) => sum + (read.get(segment)?.bytes ?? 0), 0);
}

/** What a live entry of the state takes against the cap: its key and value, as UTF-8. */
export function entryBytes(key: string, valueText: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(valueText);
}

/**
 * Refuses (E_QUOTA) writing `valueText` at `key` when it would take the live state counted
 * against `app` past `maxBytes`. A write that adds nothing (a smaller value, a delete) is
 * never refused: an app at its cap must be able to make room.
 */
export function checkStateRoom(
  db: StateReader,
  app: string,
  permissions: readonly string[],
  key: string,
  valueText: string,
  maxBytes = APP_STATE_MAX_BYTES,
): void {
  const held = sqliteOf(db)
    .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?")
    .get(key)?.value;
  const growth = entryBytes(key, valueText) - (held == null ? 0 : entryBytes(key, held));
  if (growth <= 0) return;
  const segments = countedSegments(app, permissions);
  const used = stateBytesUnder(db, segments);
  if (used + growth <= maxBytes) return;
  const where = segments.map((segment) => `${APPS_STATE_ROOT}${segment}/`).join(", ");
  throw new BuckyError(
    "E_QUOTA",
    `${app} may keep at most ${formatBytes(maxBytes)} of zone state (under ${where}), and holds ${formatBytes(used)}: this write of ${formatBytes(entryBytes(key, valueText))} would pass it, so nothing was written`,
    "Delete keys the app no longer needs. The zone state is for small records, kept by every device: keep bulk data in the app's data directory ($BUCKY_DATA_DIR) or as named data.",
  );
}

/** `apps/<segment>/…` → `<segment>`; "" for a prefix not under apps/. */
function segmentOf(prefix: string): string {
  if (!prefix.startsWith(APPS_STATE_ROOT)) return "";
  return prefix.slice(APPS_STATE_ROOT.length).split("/")[0] ?? "";
}
