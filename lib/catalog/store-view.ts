/**
 * The app store as the zone sees it: every catalog (the built-in one first), and every
 * app they list, with what it needs, whether this bucky can install it, whether it is
 * installed, and whether the catalog it came from has a newer version.
 */
import { type AppManifest, checkManifest } from "../../protocol/app-manifest.ts";
import type { CatalogEntry, Texts } from "../../protocol/catalog.ts";
import type { PublisherId } from "../../protocol/ids.ts";
import { readSpecs } from "../apps/spec.ts";
import { BuckyError } from "../errors.ts";
import { BUILTIN_CATALOG, builtinCatalog } from "./builtin.ts";
import { type CatalogNode, loadCatalog } from "./catalogs.ts";
import { isOrigin, readAppOrigins, readCatalogRecords } from "./records.ts";

export interface StoreCatalog {
  readonly name: string;
  readonly title: Texts;
  /** null for the built-in catalog, which the binary itself vouches for. */
  readonly publisher: PublisherId | null;
  readonly version: number | null;
  readonly source: string | null;
  readonly addedBy: string | null;
  readonly updatedAt: string | null;
  readonly apps: number;
  /** Why its apps cannot be shown now (its index is on no device that answers, say). */
  readonly problem: { readonly code: string; readonly message: string } | null;
}

/** What an app asks of the zone, in the terms a person decides on. */
export interface AppNeeds {
  readonly kind: "process" | "image";
  /** It keeps data of its own (which backups and standbys cover). */
  readonly data: boolean;
  /** It may open connections to the internet. */
  readonly network: boolean;
  /** Anyone on the internet may use it (not only people of the zone). */
  readonly public: boolean;
  readonly permissions: readonly string[];
}

export interface StoreApp {
  readonly catalog: string;
  readonly id: string;
  readonly version: string;
  readonly title: Texts;
  readonly summary: Texts;
  readonly description: CatalogEntry["description"];
  readonly icon: string | null;
  readonly needs: AppNeeds;
  /** Why this bucky cannot install it, or null when it can. */
  readonly notInstallable: string | null;
  /** The installed app of that id, if any, and the catalog it came from. */
  readonly installed: {
    readonly version: string;
    readonly from: string | null;
  } | null;
  /** This entry is a newer version of the app installed from this very catalog. */
  readonly update: boolean;
}

export interface StoreView {
  readonly catalogs: readonly StoreCatalog[];
  readonly apps: readonly StoreApp[];
}

/** The store; with `query`, only the apps whose id, title or summary hold it. */
export async function storeView(node: CatalogNode, query?: string): Promise<StoreView> {
  const builtin = builtinCatalog();
  const catalogs: StoreCatalog[] = [
    {
      name: BUILTIN_CATALOG,
      title: builtin.title,
      publisher: null,
      version: null,
      source: null,
      addedBy: null,
      updatedAt: null,
      apps: builtin.apps.length,
      problem: null,
    },
  ];
  const entries: { catalog: string; publisher: PublisherId | null; entry: CatalogEntry }[] =
    builtin.apps.map((entry) => ({ catalog: BUILTIN_CATALOG, publisher: null, entry }));
  for (const record of readCatalogRecords(node.db)) {
    let apps = 0;
    let title: Texts = { en: record.name };
    let problem: StoreCatalog["problem"] = null;
    try {
      const catalog = await loadCatalog(node, record);
      apps = catalog.apps.length;
      title = catalog.title;
      entries.push(
        ...catalog.apps.map((entry) => ({
          catalog: record.name,
          publisher: record.publisher,
          entry,
        })),
      );
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      problem = { code: error.code, message: error.message };
    }
    catalogs.push({
      name: record.name,
      title,
      publisher: record.publisher,
      version: record.version,
      source: record.source,
      addedBy: record.addedBy,
      updatedAt: record.updatedAt,
      apps,
      problem,
    });
  }
  const installed = new Map(
    readSpecs(node.db)
      .filter((spec) => spec.desired !== "removed")
      .map((spec) => [spec.app, spec.version]),
  );
  const origins = readAppOrigins(node.db);
  const words = (query ?? "").toLowerCase().split(/\s+/).filter(Boolean);
  const apps = entries
    .filter(({ entry }) => {
      if (words.length === 0) return true;
      const haystack = [entry.id, ...Object.values(entry.title), ...Object.values(entry.summary)]
        .join("\n")
        .toLowerCase();
      return words.every((word) => haystack.includes(word));
    })
    .map(({ catalog, publisher, entry }): StoreApp => {
      const version = installed.get(entry.id);
      const origin = origins.get(entry.id);
      return {
        catalog,
        id: entry.id,
        version: entry.version,
        title: entry.title,
        summary: entry.summary,
        description: entry.description,
        icon: entry.icon,
        needs: needsOf(entry),
        notInstallable: whyNotInstallable(entry),
        installed: version === undefined ? null : { version, from: origin?.catalog ?? null },
        // Not from another publisher's catalog of that name (the one it came from removed).
        update:
          version !== undefined &&
          isOrigin(origin, catalog, publisher) &&
          compareVersions(entry.version, version) > 0,
      };
    });
  return { catalogs, apps };
}

/** The entry `app` of catalog `catalog`, and that catalog's publisher (null: built in). */
export async function findEntry(
  node: CatalogNode,
  catalog: string,
  app: string,
): Promise<{ entry: CatalogEntry; source: string | null; publisher: PublisherId | null }> {
  if (catalog === BUILTIN_CATALOG) {
    const entry = builtinCatalog().apps.find((e) => e.id === app);
    if (entry) return { entry, source: null, publisher: null };
  } else {
    const record = readCatalogRecords(node.db).find((r) => r.name === catalog);
    if (!record) throw new BuckyError("E_NOT_FOUND", `the zone has no catalog named ${catalog}`);
    const entry = (await loadCatalog(node, record)).apps.find((e) => e.id === app);
    if (entry) return { entry, source: record.source, publisher: record.publisher };
  }
  throw new BuckyError("E_NOT_FOUND", `catalog ${catalog} lists no app ${app}`);
}

/** The manifest an entry installs, checked; undefined when this bucky cannot read it. */
export function entryManifest(entry: CatalogEntry): AppManifest | undefined {
  const checked = checkManifest(entry.manifest);
  return checked.ok ? checked.manifest : undefined;
}

function needsOf(entry: CatalogEntry): AppNeeds {
  const m = entry.manifest;
  return {
    kind: entry.image ? "image" : "process",
    data: Array.isArray(m.data) ? m.data.length > 0 : typeof m.data === "object" && m.data !== null,
    network: m.network === "outbound",
    public: m.exposure === "public",
    permissions: Array.isArray(m.permissions) ? m.permissions.map(String) : [],
  };
}

function whyNotInstallable(entry: CatalogEntry): string | null {
  if (entry.image) return "image";
  const checked = checkManifest(entry.manifest);
  return checked.ok ? null : "manifest";
}

/**
 * -1, 0 or 1, as semantic versions order: "1.10.0" is after "1.9.2" (numbers compare as
 * numbers, words as words); a pre-release ("3.0.0-beta") is before its release, and
 * build metadata ("+x") orders nothing. Once, more parts were later: the release of a
 * pre-release was never offered as its update, and 1.0.0-rc1 was offered over 1.0.0.
 */
export function compareVersions(a: string, b: string): number {
  const [coreA = "", preA] = splitVersion(a);
  const [coreB = "", preB] = splitVersion(b);
  const core = compareParts(coreA.split("."), coreB.split("."));
  if (core !== 0) return core;
  if (preA === undefined || preB === undefined)
    return preA === preB ? 0 : preA === undefined ? 1 : -1;
  return compareParts(preA.split("."), preB.split("."));
}

/** A version's core and pre-release (undefined for a release), its build metadata left out. */
function splitVersion(version: string): [string, string | undefined] {
  const noBuild = version.split("+")[0] ?? "";
  const dash = noBuild.indexOf("-");
  return dash < 0 ? [noBuild, undefined] : [noBuild.slice(0, dash), noBuild.slice(dash + 1)];
}

function compareParts(left: readonly string[], right: readonly string[]): number {
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i];
    const y = right[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const numeric = /^\d+$/.test(x) && /^\d+$/.test(y);
    const order = numeric ? Math.sign(Number(x) - Number(y)) : x < y ? -1 : x > y ? 1 : 0;
    if (order !== 0) return order;
  }
  return 0;
}
