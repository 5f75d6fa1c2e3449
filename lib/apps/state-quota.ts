/**
 * The cap on an app's live zone state. Every device holds the whole state, so an app that
 * kept adding keys (each within the write pace) would grow every device's database for
 * good. What counts against an app is every live byte (key and value, as UTF-8) under each
 * `apps/<name>/` it may write: its own prefix and the segments of the prefixes it was
 * granted (`state.write:apps/shared/` counts all of `apps/shared/`, whoever wrote there).
 * The figure is summed from the zone state (one range of the key index per segment), so
 * every device gives the same one; the app API remembers it between an app's writes for a
 * few seconds (StateRoom), adding what each write adds, rather than sum it again per write.
 * Not kept by triggers on the state: those cost every row a merge writes (measured: raw
 * upserts from 340k to 180k a second, of any key), for a figure only an app's writes need.
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
  // Keys of apps/<segment>/ sort from that prefix up to apps/<segment>0 ("0" follows "/").
  const sum = sqliteOf(db).query<{ bytes: number }, [string, string]>(
    `SELECT coalesce(sum(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0) AS bytes
     FROM state WHERE key >= ?1 AND key < ?2 AND value IS NOT NULL`,
  );
  return segments.reduce((total, segment) => {
    const prefix = `${APPS_STATE_ROOT}${segment}/`;
    return total + (sum.get(prefix, `${APPS_STATE_ROOT}${segment}0`)?.bytes ?? 0);
  }, 0);
}

/** What a live entry of the state takes against the cap: its key and value, as UTF-8. */
export function entryBytes(key: string, valueText: string): number {
  return Buffer.byteLength(key) + Buffer.byteLength(valueText);
}

/** How long a sum of an app's live state is taken as it is, its own writes added. */
const SUMMED_FOR_MS = 5_000;

/**
 * One app's room in the zone state, as its API checks it before each write. The sum is
 * taken again every SUMMED_FOR_MS: what others wrote under the app's keys meanwhile (rare:
 * the app's keys are its own) counts from then on. A bound to stop an app filling every
 * device's disk can be a few seconds late about others' writes; never about the app's own.
 */
export class StateRoom {
  private summed: { readonly bytes: number; readonly atMs: number } | undefined;
  private summedFor = "";

  constructor(
    private readonly db: StateReader,
    private readonly app: string,
    private readonly now: () => number,
    private readonly maxBytes = APP_STATE_MAX_BYTES,
  ) {}

  /**
   * Refuses (E_QUOTA) writing `valueText` at `key` (null: deleting it) when it would take
   * the live state counted against the app past the cap, and else counts it as written. A
   * write that adds nothing (a smaller value, a delete) is never refused: an app at its cap
   * must be able to make room, which the next write sums again.
   */
  take(permissions: readonly string[], key: string, valueText: string | null): void {
    const held = sqliteOf(this.db)
      .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?")
      .get(key)?.value;
    const growth =
      (valueText === null ? 0 : entryBytes(key, valueText)) -
      (held == null ? 0 : entryBytes(key, held));
    if (growth <= 0) {
      this.summed = undefined;
      return;
    }
    const segments = countedSegments(this.app, permissions);
    const used = this.used(segments);
    if (used + growth > this.maxBytes) {
      const where = segments.map((segment) => `${APPS_STATE_ROOT}${segment}/`).join(", ");
      throw new BuckyError(
        "E_QUOTA",
        `${this.app} may keep at most ${formatBytes(this.maxBytes)} of zone state (under ${where}), and holds ${formatBytes(used)}: this write of ${formatBytes(growth)} more would pass it, so nothing was written`,
        "Delete keys the app no longer needs. The zone state is for small records, kept by every device: keep bulk data in the app's data directory ($BUCKY_DATA_DIR) or as named data.",
      );
    }
    this.summed = { bytes: used + growth, atMs: this.summed?.atMs ?? this.now() };
  }

  /** The live bytes counted against the app: as summed lately, or summed now. */
  private used(segments: readonly string[]): number {
    const nowMs = this.now();
    const of = segments.join("/");
    if (this.summed && of === this.summedFor && Math.abs(nowMs - this.summed.atMs) < SUMMED_FOR_MS)
      return this.summed.bytes;
    this.summed = { bytes: stateBytesUnder(this.db, segments), atMs: nowMs };
    this.summedFor = of;
    return this.summed.bytes;
  }
}

/** `apps/<segment>/…` → `<segment>`; "" for a prefix not under apps/. */
function segmentOf(prefix: string): string {
  if (!prefix.startsWith(APPS_STATE_ROOT)) return "";
  return prefix.slice(APPS_STATE_ROOT.length).split("/")[0] ?? "";
}
