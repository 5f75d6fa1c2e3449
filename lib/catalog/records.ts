/** Reading the zone's catalog records and app origins (protocol/catalog-record.ts). */
import { and, gte, isNotNull, lt } from "drizzle-orm";
import { type Catalog, verifyCatalog } from "../../protocol/catalog.ts";
import {
  APP_ORIGIN_PREFIX,
  type AppOrigin,
  CATALOG_RECORD_PREFIX,
  CATALOG_REMOVAL_PREFIX,
  type CatalogRecord,
  decodeAppOrigin,
  decodeCatalogRecord,
} from "../../protocol/catalog-record.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { PublisherId } from "../../protocol/ids.ts";
import { isRecord } from "../../protocol/shape.ts";
import type { ObjectStore } from "../ndn/store.ts";
import type { StateQueries } from "../store/db.ts";
import { parsedValue } from "../store/reads.ts";
import { state } from "../store/schema.ts";

/**
 * The catalogs the owner added, by name (a malformed record is left out, and so is one of
 * a publisher the owner removed the catalog of since: catalogRemovalKey).
 */
export function readCatalogRecords(db: StateQueries): CatalogRecord[] {
  const removed = removedPublishers(db);
  return rowsUnder(db, CATALOG_RECORD_PREFIX)
    .flatMap(({ key, value }) => decoded(() => decodeCatalogRecord(key, JSON.parse(value))))
    .filter((record) => removed.get(record.name) !== record.publisher);
}

/** The publisher of each catalog the owner removed, by the catalog's name. */
function removedPublishers(db: StateQueries): Map<string, string> {
  const removed = new Map<string, string>();
  for (const { key, value } of rowsUnder(db, CATALOG_REMOVAL_PREFIX)) {
    const publisher = parsedValue(value);
    if (isRecord(publisher) && typeof publisher.publisher === "string")
      removed.set(key.slice(CATALOG_REMOVAL_PREFIX.length), publisher.publisher);
  }
  return removed;
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
 * catalog) now: of the same name and the same publisher. An origin written before
 * publishers were recorded (version 1) names none: it is the built-in catalog's, which no
 * catalog added may be named, and no other one's until a device pins it to its publisher
 * (lib/catalog/origin-pins.ts): another publisher's catalog of that name, added once the
 * app's own was removed, would otherwise take its data over with its "update".
 */
export function isOrigin(
  origin: AppOrigin | undefined,
  catalog: string,
  publisher: PublisherId | null,
): boolean {
  if (origin === undefined || origin.catalog !== catalog) return false;
  // Only the built-in catalog has no publisher.
  if (origin.publisher === undefined) return publisher === null;
  return origin.publisher === publisher;
}

/**
 * The catalog `record` names, if this device holds its index, signed by the record's
 * publisher and of the record's name and version.
 */
export function heldCatalog(store: ObjectStore, record: CatalogRecord): Catalog | undefined {
  const bytes = store.readObject(record.index);
  if (!bytes) return undefined;
  try {
    const catalog = verifyCatalog(new TextDecoder().decode(bytes), record.publisher);
    return catalog.name === record.name && catalog.version === record.version ? catalog : undefined;
  } catch (error) {
    if (error instanceof ProtocolError) return undefined;
    throw error;
  }
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
