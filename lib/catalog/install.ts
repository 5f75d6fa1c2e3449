/**
 * Installing (or updating) an app from a catalog: its package is taken from the built-in
 * catalog's bytes, this device's store, the other devices, or the catalog's address, each
 * checked against the id the signed entry names; its manifest must be the one the entry
 * showed, so what the store said the app needs is what it gets. Then it installs as any
 * package does (an update keeps the app's data), and the zone records which catalog it
 * came from, so only that catalog's newer versions are offered as its updates.
 */

import type { CatalogEntry } from "../../protocol/catalog.ts";
import { appOriginKey, encodeAppOrigin } from "../../protocol/catalog-record.ts";
import type { PublisherId } from "../../protocol/ids.ts";
import { type Installed, type InstallOptions, installStoredPackage } from "../apps/admin.ts";
import { PACKAGE_LIMIT, readPackage } from "../apps/package-dir.ts";
import { readSpecs } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import { fetchToStore } from "../ndn/fetch.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { BUILTIN_CATALOG, builtinCatalog } from "./builtin.ts";
import type { CatalogNode } from "./catalogs.ts";
import { isOrigin, readAppOrigins } from "./records.ts";
import { objectsAt } from "./sources.ts";
import { entryManifest, findEntry } from "./store-view.ts";

export interface StoreInstall {
  readonly catalog: string;
  readonly app: string;
  /** A device to run it on (default: the manifest's placement). */
  readonly device?: string;
}

export async function installFromCatalog(
  zone: ZoneWriter,
  node: CatalogNode,
  request: StoreInstall,
  onProgress?: (done: number, total: number) => void,
): Promise<Installed> {
  const { entry, source, publisher } = await findEntry(node, request.catalog, request.app);
  checkSameOrigin(node, request.catalog, publisher, entry);
  if (entry.image || !entry.package)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${entry.id} runs from a container image, which this version of bucky cannot run`,
      "Update bucky on the zone's devices to install it.",
    );
  const manifest = entryManifest(entry);
  if (!manifest)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${entry.id}'s manifest asks for what this version of bucky does not know`,
      "Update bucky on the zone's devices to install it.",
    );
  if (request.catalog === BUILTIN_CATALOG) {
    const bytes = builtinCatalog().objects.get(entry.package) as Uint8Array;
    node.store.putBytes(bytes);
  } else {
    await fetchToStore(
      entry.package,
      node.store,
      [...node.zoneSources(), ...(source ? [objectsAt({ kind: "url", url: source })] : [])],
      { onProgress, limit: PACKAGE_LIMIT },
    );
  }
  const bytes = node.store.readObject(entry.package);
  if (!bytes) throw new BuckyError("E_INTERNAL", `package ${entry.package} was not stored`);
  const packaged = readPackage(bytes).manifest;
  if (JSON.stringify(packaged) !== JSON.stringify(manifest))
    throw new BuckyError(
      "E_INTEGRITY",
      `the package of ${entry.id} holds another manifest than catalog ${request.catalog} shows`,
      "The publisher made a mistake, or the catalog is not what it seems: nothing was installed.",
    );
  const options: InstallOptions = request.device ? { device: request.device } : {};
  // One changeset: a device dying between two writes would leave the zone an app with no
  // origin (never offered its updates) or an origin with no app.
  return installStoredPackage(zone, node.store, entry.package, options, [
    {
      key: appOriginKey(entry.id),
      value: encodeAppOrigin({ catalog: request.catalog, publisher }),
    },
  ]);
}

/**
 * An installed app is updated only from where it came from: another catalog listing an
 * app of the same id is another publisher, whose code would take over the app's data; so
 * is a catalog of the same name from another publisher (added once the one it came from
 * was removed). (The built-in catalog, which the binary vouches for, may update an app
 * installed from a package before the store existed.)
 */
function checkSameOrigin(
  node: CatalogNode,
  catalog: string,
  publisher: PublisherId | null,
  entry: CatalogEntry,
): void {
  const app = entry.id;
  const installed = readSpecs(node.db).find((s) => s.app === app && s.desired !== "removed");
  if (!installed) return;
  const origin = readAppOrigins(node.db).get(app);
  if (isOrigin(origin, catalog, publisher) || (origin === undefined && catalog === BUILTIN_CATALOG))
    return;
  // An origin an older bucky wrote, not pinned yet (lib/catalog/origin-pins.ts): this
  // catalog lists the package the app runs, so its publisher signed the app's code (and
  // the install pins it).
  const unpinned = origin?.catalog === catalog && origin.publisher === undefined;
  if (unpinned && entry.package === installed.package) return;
  if (unpinned)
    throw new BuckyError(
      "E_EXISTS",
      `${app} was installed from catalog ${catalog} by an older bucky, which did not record that catalog's publisher; and the zone's catalog ${catalog} (of publisher ${publisher}) does not list the package ${app} runs, so it may be another publisher's, whose ${app} would take over its data`,
      `If you trust publisher ${publisher}, remove ${app} (its data is kept) and install it again from catalog ${catalog}; otherwise leave it as it is.`,
    );
  const sameName = origin?.catalog === catalog;
  const from = !origin
    ? "a package of its own"
    : `catalog ${origin.catalog}${sameName ? ` of publisher ${origin.publisher}` : ""}`;
  throw new BuckyError(
    "E_EXISTS",
    `${app} is installed already, from ${from}, not from catalog ${catalog}${sameName ? ` of publisher ${publisher}` : ""}: that catalog's ${app} would take over its data`,
    "Update it from where it came from. To take this one instead, remove the installed app first.",
  );
}
