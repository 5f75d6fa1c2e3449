/**
 * Making a catalog, for a publisher (`bucky store publish`): from a description of the
 * catalog (its name, title, version, and for each app its directory, texts, icon and
 * descriptions), the apps are packed as `bucky app install` packs them, every object is
 * written under `ndn/` by its id, and the index is signed with the publisher's key into
 * `catalog.jws`: a directory to serve from any web server, or to pack into a file.
 *
 *   catalog.json
 *   {
 *     "name": "example-apps", "title": {"en": "Example apps"}, "version": 2,
 *     "apps": [{ "dir": "memo", "title": {"en": "Memo"}, "summary": {"en": "…"},
 *                "description": {"en": "memo/README.txt"}, "icon": "memo/icon.svg" }]
 *   }
 *
 * Paths are relative to catalog.json. A publisher's key that does not exist yet is made.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { MANIFEST_FILE } from "../../protocol/app-manifest.ts";
import {
  type Catalog,
  type CatalogEntry,
  MAX_DESCRIPTION_BYTES,
  MAX_ICON_BYTES,
  signCatalog,
  type Texts,
} from "../../protocol/catalog.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { AppName } from "../../protocol/names.ts";
import {
  CHUNK_BYTES,
  type ChunkId,
  chunkIdOf,
  encodeChunkList,
  type ObjectId,
} from "../../protocol/ndn.ts";
import { isRecord } from "../../protocol/shape.ts";
import { packDirectory } from "../apps/package-dir.ts";
import { BuckyError } from "../errors.ts";
import { readKeyFile, writeKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import { INDEX_FILE, OBJECTS_DIR } from "./sources.ts";

export interface Published {
  readonly catalog: string;
  readonly version: number;
  readonly publisher: Catalog["publisher"];
  readonly apps: readonly { readonly id: string; readonly version: string }[];
  readonly out: string;
  /** The key was made now: keep it, every later version must be signed with it. */
  readonly keyMade: boolean;
}

export function publishCatalog(options: {
  readonly spec: string;
  readonly keyFile: string;
  readonly out: string;
  readonly log: Log;
  readonly now: () => number;
}): Published {
  const specPath = resolve(options.spec);
  const base = dirname(specPath);
  let spec: unknown;
  try {
    spec = JSON.parse(readFileSync(specPath, "utf8"));
  } catch (error) {
    throw new BuckyError("E_INVALID_INPUT", `cannot read ${specPath}: ${(error as Error).message}`);
  }
  if (!isRecord(spec) || !Array.isArray(spec.apps))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${specPath} must be {"name", "title", "version", "apps": [...]}`,
    );
  const keyMade = !existsSync(options.keyFile);
  if (keyMade) writeKeyFile(options.keyFile, "publisher", new Uint8Array(randomBytes(32)));
  const key = signingKeyFromSeed(readKeyFile(options.keyFile, "publisher", options.log));
  const objects = join(options.out, OBJECTS_DIR);
  mkdirSync(objects, { recursive: true });
  const write = (bytes: Uint8Array): ObjectId => writeObject(objects, bytes);
  const file = (path: unknown, what: string, limit: number): Uint8Array => {
    if (typeof path !== "string")
      throw new BuckyError("E_INVALID_INPUT", `${what} must be a file path`);
    const bytes = new Uint8Array(readFileSync(resolve(base, path)));
    if (bytes.length > limit)
      throw new BuckyError("E_INVALID_INPUT", `${what} is larger than ${limit} bytes`);
    return bytes;
  };
  const apps = spec.apps.map((value: unknown, index: number): CatalogEntry => {
    const what = `apps[${index}]`;
    if (!isRecord(value) || typeof value.dir !== "string")
      throw new BuckyError("E_INVALID_INPUT", `${what} must name the app's "dir"`);
    const dir = resolve(base, value.dir);
    const { manifest, bytes } = packDirectory(dir);
    const raw = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), "utf8")) as Record<
      string,
      unknown
    >;
    const descriptions: Record<string, ObjectId> = {};
    if (isRecord(value.description))
      for (const [language, path] of Object.entries(value.description))
        descriptions[language] = write(
          file(path, `${what} description (${language})`, MAX_DESCRIPTION_BYTES),
        );
    return {
      id: manifest.id as AppName,
      version: manifest.version,
      title: (value.title ?? { en: manifest.id }) as Texts,
      summary: (value.summary ?? { en: manifest.description || manifest.id }) as Texts,
      description: descriptions,
      icon:
        value.icon === undefined ? null : write(file(value.icon, `${what} icon`, MAX_ICON_BYTES)),
      manifest: raw,
      package: write(bytes),
      image: null,
    };
  });
  let catalog: Catalog;
  try {
    catalog = signCatalog(
      {
        name: String(spec.name ?? ""),
        title: (spec.title ?? { en: String(spec.name ?? "") }) as Texts,
        version: Number(spec.version),
        issuedAt: Math.floor(options.now() / 1000),
        apps,
      },
      key,
    );
  } catch (error) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${specPath} does not make a valid catalog: ${(error as Error).message}`,
    );
  }
  writeFileSync(join(options.out, INDEX_FILE), `${catalog.jws}\n`);
  options.log.info("catalog published", {
    catalog: catalog.name,
    version: catalog.version,
    apps: apps.length,
    out: options.out,
  });
  return {
    catalog: catalog.name,
    version: catalog.version,
    publisher: catalog.publisher,
    apps: apps.map((a) => ({ id: a.id, version: a.version })),
    out: resolve(options.out),
    keyMade,
  };
}

/** Writes `bytes` as named data under `dir` (its chunks, and their list when several). */
function writeObject(dir: string, bytes: Uint8Array): ObjectId {
  const chunks: ChunkId[] = [];
  for (let offset = 0; offset === 0 || offset < bytes.length; offset += CHUNK_BYTES) {
    const chunk = bytes.subarray(offset, offset + CHUNK_BYTES);
    const id = chunkIdOf(chunk);
    writeFileSync(join(dir, id), chunk);
    chunks.push(id);
  }
  if (chunks.length === 1) return chunks[0] as ChunkId;
  const list = encodeChunkList({ size: bytes.length, chunkSize: CHUNK_BYTES, chunks });
  writeFileSync(join(dir, list.id), list.bytes);
  return list.id;
}
