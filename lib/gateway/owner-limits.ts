/**
 * The limits the owner set over an app's manifest (`bucky app limit`), each under a key of
 * its own:
 *
 *   users/<user>/apps/<app>/limits/rps         {"rps": n}, {"rps": null} (lifted), or {} (the manifest's)
 *   users/<user>/apps/<app>/limits/bandwidth   {"bandwidthBytesPerSecond": …}, the same way
 *
 * Both were one record, which every `bucky app limit` wrote whole: a rate set on one device
 * and a bandwidth on another at once kept only the later write, and the other limit went
 * back to what it was without a word. Each under its own key stands beside the other.
 *
 * The record of both (`users/<user>/apps/<app>/limits`) is still written, for buckys from
 * before these keys, and marked (`perLimit: true`) by one that writes them: an older bucky
 * writes it without the mark, and what it says then stands over the limits set before it.
 */
import type { Op } from "../../protocol/changeset.ts";
import { isRecord } from "../../protocol/shape.ts";
import { appKeys } from "../apps/app-keys.ts";
import { parsedValue, type StateReader } from "../store/reads.ts";
import { type StateRow, stateRowsBetween, writtenAfter } from "../store/row-order.ts";

/**
 * The limits the owner set over the manifest's: a number is the limit, null lifts the
 * manifest's, and a limit not named is the manifest's.
 */
export interface OwnerLimits {
  readonly rps?: number | null;
  readonly bandwidthBytesPerSecond?: number | null;
}

export type LimitName = keyof OwnerLimits;

const LIMIT_NAMES: readonly LimitName[] = ["rps", "bandwidthBytesPerSecond"];

/** The key of one of `app`'s limits. */
export function limitKey(app: string, limit: LimitName): string {
  return appKeys.limit(app, limit === "rps" ? "rps" : "bandwidth");
}

/** The limits the owner set over `app`'s manifest, the same on every device. */
export function readOwnerLimits(db: StateReader, app: string): OwnerLimits {
  const rows = limitRows(db, app);
  const recordRow = rows.get(appKeys.limits(app));
  const record = recordOf(recordRow);
  const out: { rps?: number | null; bandwidthBytesPerSecond?: number | null } = {};
  for (const name of LIMIT_NAMES) {
    const row = rows.get(limitKey(app, name));
    // An older bucky's record (or its purge's deletion of it) says it all over the limits
    // set before it; one of this bucky's is only a copy for those older ones.
    const fromRecord =
      recordRow !== undefined &&
      (row?.value == null || (!markedRecord(record) && writtenAfter(recordRow, row)));
    const limit = fromRecord
      ? limitOf(record ?? {}, name)
      : row?.value
        ? parseLimits(row.value)[name]
        : undefined;
    if (limit !== undefined) out[name] = limit;
  }
  return out;
}

/**
 * The ops that set the limits `changed` names to what `set` says of them (not named: the
 * manifest's), with the record of both, `set` whole, for older buckys.
 */
export function ownerLimitsOps(
  db: StateReader,
  app: string,
  set: OwnerLimits,
  changed: readonly LimitName[],
): Op[] {
  // Where an older bucky wrote the record last (or deleted it, purging the app), what it
  // said stood over the limits set before it: this record, marked, would let those undo
  // it, so every limit is written anew.
  const recordRow = limitRows(db, app).get(appKeys.limits(app));
  const older = recordRow !== undefined && !markedRecord(recordOf(recordRow));
  return [
    ...(older ? LIMIT_NAMES : changed).map((name) => ({
      key: limitKey(app, name),
      value: JSON.stringify(set[name] === undefined ? {} : { [name]: set[name] }),
    })),
    { key: appKeys.limits(app), value: JSON.stringify({ ...set, perLimit: true }) },
  ];
}

/**
 * An app's limits as a member wrote them, each a positive number or null (lifted): a limit
 * of another shape (`"x"`, `-1`) is not read, the manifest's standing, where it made the
 * gateway's throttle count with NaN.
 */
export function parseLimits(text: string): OwnerLimits {
  const value = parsedValue(text);
  if (!isRecord(value)) return {};
  const rps = limitOf(value, "rps");
  const bandwidthBytesPerSecond = limitOf(value, "bandwidthBytesPerSecond");
  return {
    ...(rps !== undefined ? { rps } : {}),
    ...(bandwidthBytesPerSecond !== undefined ? { bandwidthBytesPerSecond } : {}),
  };
}

/** The rows of `app`'s limits, the record of both and each's, in one read. */
function limitRows(db: StateReader, app: string): Map<string, StateRow> {
  return stateRowsBetween(db, appKeys.limits(app), `${appKeys.limits(app)}/\x7f`);
}

function recordOf(row: StateRow | undefined): Record<string, unknown> | undefined {
  const value = parsedValue(row?.value);
  return isRecord(value) ? value : undefined;
}

/** Whether the record of both was written by a bucky that keeps each limit's key. */
function markedRecord(record: Record<string, unknown> | undefined): boolean {
  return record?.perLimit === true;
}

function limitOf(record: Record<string, unknown>, name: LimitName): number | null | undefined {
  const limit = record[name];
  return limit === null || (typeof limit === "number" && Number.isFinite(limit) && limit > 0)
    ? limit
    : undefined;
}
