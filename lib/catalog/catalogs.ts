/**
 * The zone's app catalogs. Adding one takes two steps, so the owner sees whose it is
 * before trusting it: `previewCatalog` reads the index and shows its publisher (the key
 * that signed it) and what it lists, keeping those exact bytes; `acceptCatalog` takes
 * them if the owner accepted that key, stores the index, the icons and the descriptions
 * as named data (so browsing the store needs no network), and records the catalog in
 * the zone state, where every device sees it. `refreshCatalog` fetches it again from its
 * address and takes a newer version signed by the same key; an older one is refused.
 */
import { randomBytes } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  type Catalog,
  MAX_DESCRIPTION_BYTES,
  MAX_ICON_BYTES,
  verifyCatalog,
} from "../../protocol/catalog.ts";
import {
  type CatalogRecord,
  catalogRecordKey,
  catalogRemovalKey,
  encodeCatalogRecord,
} from "../../protocol/catalog-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { PublisherId } from "../../protocol/ids.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { PACKAGE_LIMIT } from "../apps/package-dir.ts";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";
import { fetchHead, fetchToStore, type ObjectSource } from "../ndn/fetch.ts";
import type { ObjectStore } from "../ndn/store.ts";
import type { StateQueries } from "../store/db.ts";
import { BUILTIN_CATALOG } from "./builtin.ts";
import {
  type ArchiveLimits,
  CATALOG_ARCHIVE_LIMITS,
  unpackCatalogArchive,
} from "./catalog-archive.ts";
import { readCatalogRecords } from "./records.ts";
import { type CatalogSource, INDEX_FILE, objectsAt, readIndex } from "./sources.ts";

/** What the catalogs need of the running node. */
export interface CatalogNode {
  readonly db: StateQueries;
  readonly store: ObjectStore;
  readonly deviceName: string;
  readonly log: Log;
  now(): number;
  write(ops: readonly Op[]): unknown;
  /** This device's store, then the other devices of the zone. */
  zoneSources(): ObjectSource[];
}

/** What the owner is shown before accepting a catalog. */
export interface CatalogPreview {
  /** Names the read bytes for `acceptCatalog`; good for STAGED_MS. */
  readonly token: string;
  readonly name: string;
  readonly title: Catalog["title"];
  readonly publisher: PublisherId;
  readonly version: number;
  readonly apps: number;
  readonly source: string;
  /** The zone's catalog of that name, when it has one already. */
  readonly existing: { readonly publisher: PublisherId; readonly version: number } | null;
}

const STAGED_MS = 60 * 60_000;
const MAX_STAGED = 16;
/**
 * Staged catalogs unpacked from a file, at most: each may take up to a catalog file's
 * bound on disk (1 GiB), so the oldest goes when one more is read. With the one being
 * unpacked (one at a time), uploads hold at most three times the bound.
 */
const MAX_STAGED_FILES = 2;

interface Staged {
  readonly catalog: Catalog;
  readonly source: CatalogSource;
  /** A directory unpacked from an upload, removed with the staging. */
  readonly unpacked?: string;
  readonly at: number;
}

/** Catalogs read but not yet accepted, in the daemon's memory. */
export class CatalogStaging {
  private readonly staged = new Map<string, Staged>();
  private unpacking = false;

  constructor(
    /** Where uploaded catalog files are unpacked. */
    private readonly uploadsDir: string,
    private readonly now: () => number,
    private readonly limits: ArchiveLimits = CATALOG_ARCHIVE_LIMITS,
  ) {
    // Whatever a previous daemon left unpacked is of no use now.
    rmSync(uploadsDir, { recursive: true, force: true });
  }

  add(entry: Omit<Staged, "at">): string {
    this.sweep();
    while (this.staged.size >= MAX_STAGED) this.drop(this.staged.keys().next().value as string);
    if (entry.unpacked) {
      const files = [...this.staged].filter(([, staged]) => staged.unpacked);
      for (const [token] of files.slice(0, Math.max(0, files.length - MAX_STAGED_FILES + 1)))
        this.drop(token);
    }
    const token = randomBytes(16).toString("hex");
    this.staged.set(token, { ...entry, at: this.now() });
    return token;
  }

  take(token: string): Staged {
    this.sweep();
    const staged = this.staged.get(token);
    if (!staged)
      throw new BuckyError(
        "E_NOT_FOUND",
        "that catalog was read too long ago, or never",
        "Add it again: it is read anew.",
      );
    return staged;
  }

  drop(token: string): void {
    const staged = this.staged.get(token);
    this.staged.delete(token);
    if (staged?.unpacked) rmSync(staged.unpacked, { recursive: true, force: true });
  }

  /**
   * Unpacks an uploaded catalog file (a .tar or .tar.gz of its directory) without holding
   * the daemon, within CATALOG_ARCHIVE_LIMITS; nothing is left of one it refuses.
   */
  async unpack(
    archive: Uint8Array | AsyncIterable<Uint8Array>,
  ): Promise<{ source: CatalogSource; unpacked: string }> {
    if (this.unpacking) {
      // Refused before a byte of the upload is read.
      throw new BuckyError(
        "E_UNAVAILABLE",
        "another catalog file is being read on this device",
        "Try again in a moment, once it is read.",
      );
    }
    this.unpacking = true;
    const dir = join(this.uploadsDir, randomBytes(8).toString("hex"));
    const unpacked = join(dir, "unpacked");
    try {
      await mkdir(unpacked, { recursive: true, mode: 0o700 });
      await unpackCatalogArchive(archive, unpacked, this.limits);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    } finally {
      this.unpacking = false;
    }
    const entries = await readdir(unpacked);
    const root =
      entries.includes(INDEX_FILE) || entries.length !== 1
        ? unpacked
        : join(unpacked, entries[0] as string);
    if (!existsSync(join(root, INDEX_FILE))) {
      // Said of the file as sent: where it was unpacked means nothing to whoever sent it.
      await rm(dir, { recursive: true, force: true });
      throw new BuckyError(
        "E_INVALID_INPUT",
        `that catalog file has no ${INDEX_FILE}, at its top or in its one directory`,
        "Choose the catalog's .tar or .tar.gz file, as its publisher made it (`bucky store publish` writes the directory it packs).",
      );
    }
    return { source: { kind: "dir", dir: root }, unpacked: dir };
  }

  private sweep(): void {
    for (const [token, staged] of this.staged)
      if (this.now() - staged.at > STAGED_MS) this.drop(token);
  }
}

/** Reads a catalog from its source, checks it is whole and self-signed, and stages it. */
export async function previewCatalog(
  node: CatalogNode,
  staging: CatalogStaging,
  source: CatalogSource,
  unpacked?: string,
): Promise<CatalogPreview> {
  let catalog: Catalog;
  try {
    catalog = verifiedCatalog(await readIndex(source));
  } catch (error) {
    if (unpacked) rmSync(unpacked, { recursive: true, force: true });
    throw error;
  }
  if (catalog.name === BUILTIN_CATALOG) {
    if (unpacked) rmSync(unpacked, { recursive: true, force: true });
    throw new BuckyError(
      "E_INVALID_INPUT",
      `a catalog may not be named ${BUILTIN_CATALOG}: that is the name of the apps bucky ships with`,
    );
  }
  const existing = readCatalogRecords(node.db).find((r) => r.name === catalog.name);
  const token = staging.add({ catalog, source, ...(unpacked ? { unpacked } : {}) });
  return {
    token,
    name: catalog.name,
    title: catalog.title,
    publisher: catalog.publisher,
    version: catalog.version,
    apps: catalog.apps.length,
    source: source.kind === "url" ? source.url : "file",
    existing: existing ? { publisher: existing.publisher, version: existing.version } : null,
  };
}

/**
 * Adds the staged catalog `token` to the zone, if `publisher` (the key the owner
 * accepted) signed it; an update of a catalog the zone has needs the same publisher and
 * a higher version.
 */
export async function acceptCatalog(
  node: CatalogNode,
  staging: CatalogStaging,
  token: string,
  publisher: PublisherId,
): Promise<CatalogRecord> {
  const staged = staging.take(token);
  try {
    const catalog = verifiedCatalog(staged.catalog.jws, publisher);
    const existing = readCatalogRecords(node.db).find((r) => r.name === catalog.name);
    if (existing) checkUpdate(existing, catalog);
    const record = await storeCatalog(node, catalog, staged.source, existing, true);
    node.log.info(existing ? "catalog updated" : "catalog added", {
      catalog: record.name,
      publisher: record.publisher,
      version: record.version,
      apps: catalog.apps.length,
    });
    return record;
  } finally {
    staging.drop(token);
  }
}

/**
 * Fetches catalog `name` again from its address: a newer version signed by its publisher
 * replaces it; the same version changes nothing; an older one is refused.
 */
export async function refreshCatalog(
  node: CatalogNode,
  name: string,
): Promise<{ readonly record: CatalogRecord; readonly updated: boolean }> {
  const existing = readCatalogRecords(node.db).find((r) => r.name === name);
  if (!existing) throw noCatalog(name);
  if (!existing.source)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `catalog ${name} was added from a file: it has no address to fetch updates from`,
      "Add the newer file its publisher gives you: it replaces this one.",
    );
  const source: CatalogSource = { kind: "url", url: existing.source };
  const catalog = verifiedCatalog(await readIndex(source), existing.publisher);
  if (catalog.name !== name)
    throw new BuckyError(
      "E_INTEGRITY",
      `${existing.source} now holds the catalog ${catalog.name}, not ${name}`,
    );
  if (catalog.version === existing.version) return { record: existing, updated: false };
  checkUpdate(existing, catalog);
  const record = await storeCatalog(node, catalog, source, existing);
  node.log.info("catalog updated", { catalog: name, version: record.version });
  return { record, updated: true };
}

/** Removes catalog `name` from the zone; the apps installed from it stay. */
export function removeCatalog(node: CatalogNode, name: string): CatalogRecord {
  const existing = readCatalogRecords(node.db).find((r) => r.name === name);
  if (!existing) throw noCatalog(name);
  node.write([
    { key: catalogRecordKey(name), value: null },
    // Beside it, where a refresh given at once elsewhere does not bring it back.
    {
      key: catalogRemovalKey(name),
      value: JSON.stringify({
        publisher: existing.publisher,
        at: new Date(node.now()).toISOString(),
      }),
    },
  ]);
  node.log.info("catalog removed", { catalog: name });
  return existing;
}

const loaded = new Map<ObjectId, Catalog>();

/**
 * The catalog a record names, verified against the publisher the owner accepted: its
 * index from this device's store, else fetched from the other devices.
 */
export async function loadCatalog(node: CatalogNode, record: CatalogRecord): Promise<Catalog> {
  const cached = loaded.get(record.index);
  if (cached && cached.publisher === record.publisher) return namedBy(record, cached);
  let bytes = node.store.readObject(record.index);
  if (!bytes) {
    await fetchToStore(record.index, node.store, node.zoneSources());
    bytes = node.store.readObject(record.index) as Uint8Array;
  }
  const catalog = namedBy(
    record,
    verifiedCatalog(new TextDecoder().decode(bytes), record.publisher),
  );
  if (loaded.size > 64) loaded.clear();
  loaded.set(record.index, catalog);
  return catalog;
}

/** `catalog`, if it is the name and version `record` says its index holds. */
function namedBy(record: CatalogRecord, catalog: Catalog): Catalog {
  if (catalog.name !== record.name || catalog.version !== record.version)
    throw new BuckyError(
      "E_INTEGRITY",
      `the index of catalog ${record.name} is ${catalog.name} version ${catalog.version}, not version ${record.version}`,
    );
  return catalog;
}

/** Verifies a catalog's JWS (against `publisher` when given), as a BuckyError if it fails. */
function verifiedCatalog(jws: string, publisher?: PublisherId): Catalog {
  try {
    return verifyCatalog(jws, publisher);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    throw new BuckyError(
      "E_INTEGRITY",
      `the catalog does not verify: ${error.message}`,
      publisher
        ? "It was not signed by the publisher you accepted, or it was altered on its way: nothing was added."
        : "It was altered, or is not a catalog: nothing was added.",
    );
  }
}

function checkUpdate(existing: CatalogRecord, catalog: Catalog): void {
  if (existing.publisher !== catalog.publisher)
    throw new BuckyError(
      "E_EXISTS",
      `the zone has a catalog named ${catalog.name} already, from another publisher (${existing.publisher})`,
      "Remove that one first if you mean to replace it.",
    );
  if (catalog.version <= existing.version)
    throw new BuckyError(
      "E_INTEGRITY",
      `catalog ${catalog.name} version ${catalog.version} is not newer than the zone's version ${existing.version}`,
      "An older catalog is never taken back: it could bring back an app version with a known fault.",
    );
}

/**
 * Stores the index, every icon and description, and (from a file, which will not be
 * there later) every package as named data, then records the catalog in the zone state.
 */
async function storeCatalog(
  node: CatalogNode,
  catalog: Catalog,
  source: CatalogSource,
  /** The record this replaces, as it was when the update started (none: an add). */
  replacing: CatalogRecord | undefined,
  /** Added by the owner (not a refresh): a removal of it before stands no more. */
  added = false,
): Promise<CatalogRecord> {
  // A directory on this device (a file unpacked) is read before any peer is asked: a peer
  // that does not answer (asleep, paused) held every add up for as long as its timeout.
  const [own, ...peers] = node.zoneSources();
  const sources =
    source.kind === "dir"
      ? [...(own ? [own] : []), objectsAt(source), ...peers]
      : [...node.zoneSources(), objectsAt(source)];
  for (const entry of catalog.apps) {
    const small: [ObjectId, number][] = [
      ...(entry.icon ? [[entry.icon, MAX_ICON_BYTES] as [ObjectId, number]] : []),
      ...Object.values(entry.description).map(
        (id) => [id, MAX_DESCRIPTION_BYTES] as [ObjectId, number],
      ),
    ];
    for (const [id, limit] of small) {
      if (node.store.readObject(id)) continue;
      const { bytes, size } = await fetchHead(id, sources, limit + 1);
      if (size > limit)
        throw new BuckyError(
          "E_INVALID_INPUT",
          `${entry.id}'s icon or description in catalog ${catalog.name} is larger than ${limit} bytes`,
        );
      node.store.putBytes(bytes);
    }
    if (source.kind === "dir" && entry.package)
      await fetchToStore(entry.package, node.store, sources, { limit: PACKAGE_LIMIT });
  }
  const index = node.store.putBytes(new TextEncoder().encode(catalog.jws)).id;
  // Checked again now that the objects are stored: another add or refresh of this catalog
  // may have written a version meanwhile, which this one must not take back.
  const current = readCatalogRecords(node.db).find((r) => r.name === catalog.name);
  // Removed meanwhile (on any device): an update must not bring back a catalog the owner
  // took away, perhaps for no longer trusting its publisher.
  if (replacing && !current)
    throw new BuckyError(
      "E_NOT_FOUND",
      `catalog ${catalog.name} was removed while its update was fetched: nothing was added`,
      "Add it again if you want it back.",
    );
  // Written whether or not this device heard of a removal: one it has not may be on its way,
  // and this add, the later, stands over it.
  const unremoved: Op[] = added ? [{ key: catalogRemovalKey(catalog.name), value: null }] : [];
  if (current?.index === index && current.publisher === catalog.publisher) {
    if (unremoved.length > 0) node.write(unremoved);
    return current;
  }
  if (current) checkUpdate(current, catalog);
  const record: CatalogRecord = {
    name: catalog.name,
    publisher: catalog.publisher,
    version: catalog.version,
    index,
    source: source.kind === "url" ? source.url : null,
    addedBy: node.deviceName,
    updatedAt: new Date(node.now()).toISOString(),
  };
  node.write([
    { key: catalogRecordKey(record.name), value: encodeCatalogRecord(record) },
    ...unremoved,
  ]);
  return record;
}

function noCatalog(name: string): BuckyError {
  return new BuckyError("E_NOT_FOUND", `the zone has no catalog named ${name}`);
}
