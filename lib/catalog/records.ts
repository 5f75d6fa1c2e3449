/** Reading the zone's catalog records and app origins (protocol/catalog-record.ts). */
import { and, gte, isNotNull, lt } from "drizzle-orm";
import {
  APP_ORIGIN_PREFIX,
  type AppOrigin,
  CATALOG_RECORD_PREFIX,
  type CatalogRecord,
  decodeAppOrigin,
  decodeCatalogRecord,
} from "../../protocol/catalog-record.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { PublisherId } from "../../protocol/ids.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";

/** The catalogs the owner added, by name (a malformed record is left out). */
export function readCatalogRecords(db: StateQueries): CatalogRecord[] {
  return rowsUnder(db, CATALOG_RECORD_PREFIX).flatMap(({ key, value }) =>
    decoded(() => decodeCatalogRecord(key, JSON.parse(value))),
  );
}

/** The catalog each app was installed from, for the apps installed from one. */
export function readAppOrigins(db: StateQueries): Map<string, AppOrigin> {
  return new Map(
    rowsUnder(db, APP_ORIGIN_PREFIX).flatMap(({ key, value }) =>
      decoded(() => {
        const { app, ...origin } = decodeAppOrigin(key, JSON.parse(value));
        return [app, origin] as const;
      }),
    ),
  );
}

/**
 * Whether `origin` is catalog `catalog` as published by `publisher` (null: the built-in
 * catalog) now: of the same name, and of the same publisher when the origin says one (an
 * origin written before publishers were recorded does not).
 */
export function isOrigin(
  origin: AppOrigin | undefined,
  catalog: string,
  publisher: PublisherId | null,
): boolean {
  return (
    origin !== undefined &&
    origin.catalog === catalog &&
    (origin.publisher === undefined || origin.publisher === publisher)
  );
}

function rowsUnder(db: StateQueries, prefix: string): { key: string; value: string }[] {
  return db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(and(gte(state.key, prefix), lt(state.key, `${prefix}\x7f`), isNotNull(state.value)))
    .all() as { key: string; value: string }[];
}

function decoded<T>(decode: () => T): T[] {
  try {
    return [decode()];
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) return [];
    throw error;
  }
}
