/**
 * The catalog every zone starts with: the apps that ship with bucky. Its entries and
 * bytes come from the binary itself (builtin-apps.ts), so it needs no signature: whoever
 * trusts this binary trusts them. Packages are made exactly as `bucky app install <dir>`
 * makes them from the same directories, so the ids match.
 */

import { encodePackage } from "../../protocol/app-package.ts";
import type { CatalogEntry, Texts } from "../../protocol/catalog.ts";
import type { AppName } from "../../protocol/names.ts";
import { chunkIdOf, type ObjectId } from "../../protocol/ndn.ts";
import { en } from "../i18n/en.ts";
import { zhCN } from "../i18n/zh-CN.ts";
import { BUILTIN_APPS } from "./builtin-apps.ts";

export const BUILTIN_CATALOG = "bucky";

export interface BuiltinCatalog {
  readonly name: typeof BUILTIN_CATALOG;
  readonly title: Texts;
  readonly apps: readonly CatalogEntry[];
  /** The bytes of every object the entries name. */
  readonly objects: ReadonlyMap<ObjectId, Uint8Array>;
}

let built: BuiltinCatalog | undefined;

/** The built-in catalog, made once (packing three small apps takes a few milliseconds). */
export function builtinCatalog(): BuiltinCatalog {
  built ??= build();
  return built;
}

function build(): BuiltinCatalog {
  const objects = new Map<ObjectId, Uint8Array>();
  const store = (bytes: Uint8Array): ObjectId => {
    const id = chunkIdOf(bytes);
    objects.set(id, bytes);
    return id;
  };
  const encoder = new TextEncoder();
  const apps = (Object.keys(BUILTIN_APPS) as (keyof typeof BUILTIN_APPS)[]).map(
    (app): CatalogEntry => {
      const files = BUILTIN_APPS[app];
      const manifest = JSON.parse(files["bucky-app.json"] as string) as Record<string, unknown>;
      const pkg = encodePackage(
        Object.entries(files).map(([path, text]) => ({
          path,
          executable: false,
          bytes: encoder.encode(text),
        })),
      );
      const english = en.builtinApps[app];
      const chinese = zhCN.builtinApps[app];
      return {
        id: app as AppName,
        version: manifest.version as string,
        title: { en: english.title, "zh-CN": chinese.title },
        summary: { en: english.summary, "zh-CN": chinese.summary },
        description: {
          en: store(encoder.encode(english.description)),
          "zh-CN": store(encoder.encode(chinese.description)),
        },
        icon: store(encoder.encode(files["icon.svg"] as string)),
        manifest,
        package: store(pkg),
        image: null,
      };
    },
  );
  return {
    name: BUILTIN_CATALOG,
    title: { en: en.store.builtinTitle, "zh-CN": zhCN.store.builtinTitle },
    apps,
    objects,
  };
}
