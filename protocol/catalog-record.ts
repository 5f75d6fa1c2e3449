/**
 * The app store in the zone state, so every device shows the same store:
 *
 *   store/catalogs/<name>  a catalog the owner added, at `system/store/catalogs/<name>`:
 *     JSON { v: 1, name, publisher, version, index, source, addedBy, updatedAt }
 *     `publisher` is the key the owner accepted; `index` the catalog's signed JWS, stored
 *     as named data (every device fetches it from the others and verifies it against
 *     `publisher` itself); `source` the https:// or http:// address it is fetched from
 *     again for updates, null for one added from a file.
 *   store/apps/<app>  the catalog an app was installed from, at `system/store/apps/<app>`:
 *     JSON { v: 2, catalog, publisher }, so only that catalog's newer versions are offered
 *     as updates (another catalog listing an app of the same id is not its publisher).
 *     `publisher` is the catalog's then (null: the built-in catalog): a catalog removed and
 *     added again under the same name by another publisher is not where the app came
 *     from. Version 1, { v: 1, catalog }, written before, names no publisher.
 */
import { check } from "./errors.ts";
import { type PublisherId, parsePublisherId } from "./ids.ts";
import { checkAppName, checkDeviceName } from "./names.ts";
import { type ObjectId, parseObjectId } from "./ndn.ts";
import { isRecord, requireOnlyFields, requireString, requireUint } from "./shape.ts";

export const CATALOG_RECORD_PREFIX = "system/store/catalogs/";
export const APP_ORIGIN_PREFIX = "system/store/apps/";
const MAX_URL_LENGTH = 2048;
const MAX_TIME_LENGTH = 40;

export interface CatalogRecord {
  readonly name: string;
  readonly publisher: PublisherId;
  readonly version: number;
  readonly index: ObjectId;
  readonly source: string | null;
  /** The device that added it (and fetches its updates). */
  readonly addedBy: string;
  /** RFC 3339. */
  readonly updatedAt: string;
}

export function catalogRecordKey(name: string): string {
  return `${CATALOG_RECORD_PREFIX}${name}`;
}

/**
 * A removal of catalog `name` (any member may remove one, as it may delete the record), of
 * the publisher that signed it, under a key of its own:
 * JSON { publisher, at }. A refresh of the catalog given at once on another device (which
 * had not heard of the removal) wrote its record whole after the removal's tombstone, and
 * the catalog was back on every device, perhaps one the owner no longer trusted; a record
 * of the publisher a removal names is now not read. Adding the catalog again (not a
 * refresh, nor a newer version seen) deletes the removal.
 */
export const CATALOG_REMOVAL_PREFIX = "system/store/removed-catalogs/";

export function catalogRemovalKey(name: string): string {
  return `${CATALOG_REMOVAL_PREFIX}${name}`;
}

export function appOriginKey(app: string): string {
  return `${APP_ORIGIN_PREFIX}${app}`;
}

export function encodeCatalogRecord(record: CatalogRecord): string {
  return JSON.stringify({
    v: 1,
    name: record.name,
    publisher: record.publisher,
    version: record.version,
    index: record.index,
    source: record.source,
    addedBy: record.addedBy,
    updatedAt: record.updatedAt,
  });
}

/** Parses the record at `key` (its JSON value). Throws ProtocolError when it is not one. */
export function decodeCatalogRecord(key: string, value: unknown): CatalogRecord {
  check(key.startsWith(CATALOG_RECORD_PREFIX), `${key} is not a catalog's key`);
  check(isRecord(value), `${key} is not a catalog record`);
  requireOnlyFields(
    value,
    ["v", "name", "publisher", "version", "index", "source", "addedBy", "updatedAt"],
    key,
  );
  check(value.v === 1, `${key} is version ${String(value.v)}, not 1`);
  const name = requireString(value.name, `${key} name`, 63);
  check(
    checkAppName(name).ok && key === catalogRecordKey(name),
    `${key} holds the catalog ${name}`,
  );
  const publisher = parsePublisherId(requireString(value.publisher, `${key} publisher`, 64));
  check(publisher !== undefined, `${key} publisher is not a publisher id`);
  const index = parseObjectId(requireString(value.index, `${key} index`, 80));
  check(index !== undefined, `${key} index is not an object id`);
  const source =
    value.source === null ? null : requireString(value.source, `${key} source`, MAX_URL_LENGTH);
  check(source === null || /^https?:\/\//.test(source), `${key} source is not an http(s) URL`);
  const addedBy = requireString(value.addedBy, `${key} addedBy`, 63);
  check(checkDeviceName(addedBy).ok, `${key} addedBy is not a device name`);
  return {
    name,
    publisher,
    version: requireUint(value.version, `${key} version`),
    index: index.id,
    source,
    addedBy,
    updatedAt: requireString(value.updatedAt, `${key} updatedAt`, MAX_TIME_LENGTH),
  };
}

/** Where an installed app came from. */
export interface AppOrigin {
  readonly catalog: string;
  /**
   * The catalog's publisher when the app was installed; null for the built-in catalog;
   * undefined when a version 1 record does not say.
   */
  readonly publisher: PublisherId | null | undefined;
}

export function encodeAppOrigin(origin: {
  readonly catalog: string;
  readonly publisher: PublisherId | null;
}): string {
  return JSON.stringify({ v: 2, catalog: origin.catalog, publisher: origin.publisher });
}

/** The origin record at `key`. Throws ProtocolError when it is not one. */
export function decodeAppOrigin(key: string, value: unknown): { app: string } & AppOrigin {
  check(key.startsWith(APP_ORIGIN_PREFIX), `${key} is not an app origin's key`);
  const app = key.slice(APP_ORIGIN_PREFIX.length);
  check(checkAppName(app).ok, `${key} does not name an app`);
  check(isRecord(value), `${key} is not an app origin`);
  check(value.v === 1 || value.v === 2, `${key} is version ${String(value.v)}, not 1 or 2`);
  requireOnlyFields(value, value.v === 1 ? ["v", "catalog"] : ["v", "catalog", "publisher"], key);
  const catalog = requireString(value.catalog, `${key} catalog`, 63);
  check(checkAppName(catalog).ok, `${key} catalog is not a catalog name`);
  if (value.v === 1) return { app, catalog, publisher: undefined };
  if (value.publisher === null) return { app, catalog, publisher: null };
  const publisher = parsePublisherId(requireString(value.publisher, `${key} publisher`, 64));
  check(publisher !== undefined, `${key} publisher is not a publisher's key`);
  return { app, catalog, publisher };
}
