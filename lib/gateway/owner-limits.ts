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
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { type RowClock, writtenAfter } from "../store/row-order.ts";

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
  return `${appKeys.limits(app)}/${limit === "rps" ? "rps" : "bandwidth"}`;
}

interface Row extends RowClock {
  readonly value: string | null;
}

/** The limits the owner set over `app`'s manifest, the same on every device. */
export function readOwnerLimits(db: StateReader, app: string): OwnerLimits {
  const recordRow = recordRowOf(db, app);
  const record = parseRecord(recordRow?.value);
  const marked = record !== undefined && record.perLimit === true;
  const out: { rps?: number | null; bandwidthBytesPerSecond?: number | null } = {};
  for (const name of LIMIT_NAMES) {
    const row = rowOf(db, limitKey(app, name));
    // An older bucky's record says it all over the limits set before it; one of this
    // bucky's is only a copy for those older ones.
    const fromRecord =
      recordRow !== undefined && (row?.value == null || (!marked && writtenAfter(recordRow, row)));
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
  // Where an older bucky wrote the record last, what it said stood over the limits set
  // before it: this record, marked, would let those undo it, so every limit is written anew.
  const record = parseRecord(recordRowOf(db, app)?.value);
  const written = record !== undefined && record.perLimit !== true ? LIMIT_NAMES : changed;
  return [
    ...written.map((name) => ({
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
  const value = parseRecord(text);
  if (!value) return {};
  const rps = limitOf(value, "rps");
  const bandwidthBytesPerSecond = limitOf(value, "bandwidthBytesPerSecond");
  return {
    ...(rps !== undefined ? { rps } : {}),
    ...(bandwidthBytesPerSecond !== undefined ? { bandwidthBytesPerSecond } : {}),
  };
}

function rowOf(db: StateReader, key: string): Row | undefined {
  return (
    sqliteOf(db)
      .query<Row, [string]>("SELECT value, hlc_ms, hlc_counter, author FROM state WHERE key = ?1")
      .get(key) ?? undefined
  );
}

function recordRowOf(db: StateReader, app: string): Row | undefined {
  return rowOf(db, appKeys.limits(app));
}

function parseRecord(text: string | null | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function limitOf(record: Record<string, unknown>, name: LimitName): number | null | undefined {
  const limit = record[name];
  return limit === null || (typeof limit === "number" && Number.isFinite(limit) && limit > 0)
    ? limit
    : undefined;
}
