/**
 * App catalogs: what an app store lists. A catalog is a compact JWS (EdDSA, like the
 * zone's documents) signed by its publisher, whose id is its public key (`p…`), so the
 * catalog proves who made it with no third party; the owner accepts that id when adding
 * the catalog, and every later version must be signed by the same key and carry a higher
 * version number (an older one is never taken back).
 *
 *   header  {"alg": "EdDSA", "typ": "bucky-catalog/1", "kid": "<publisher id>"}
 *   payload {
 *     "name": "example-apps",                      // a DNS label: names the catalog in the zone
 *     "title": {"en": "Example apps", "zh-CN": "示例应用"},
 *     "version": 7,                                // higher with every publication
 *     "iat": 1767225600,                           // seconds since the epoch
 *     "apps": [{
 *       "id": "notes", "version": "1.2.0",
 *       "title": {"en": "Notes"}, "summary": {"en": "Notes kept in SQLite"},
 *       "description": {"en": "sha256:…"},         // named data: plain UTF-8 text, per language
 *       "icon": "sha256:…",                        // named data: a PNG or SVG
 *       "manifest": {…},                           // the app's bucky-app.json, as installed
 *       "package": "sha256:…"                      // the app package (or "image": "sha256:…")
 *     }]
 *   }
 *
 * The entries name their bytes by id, so whatever carried them (the publisher's server, a
 * file, a peer) cannot alter them. Texts are by language tag; each has English ("en").
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import {
  type PublisherId,
  parsePublisherId,
  publicKeyOfId,
  publisherIdFromPublicKey,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { type AppName, checkAppName } from "./names.ts";
import { type ObjectId, parseObjectId } from "./ndn.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const CATALOG_TYPE = "bucky-catalog/1";
/** A catalog's JWS, at most (about a thousand apps with their manifests). */
export const MAX_CATALOG_LENGTH = 2 * 1024 * 1024;
export const MAX_CATALOG_APPS = 1000;
export const MAX_TITLE_LENGTH = 80;
export const MAX_SUMMARY_LENGTH = 300;
/** Named data a catalog points at, at most: a description's text, an icon. */
export const MAX_DESCRIPTION_BYTES = 64 * 1024;
export const MAX_ICON_BYTES = 256 * 1024;
const MAX_LANGUAGES = 16;
const LANGUAGE_TAG = /^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,2}$/;
const VERSION = /^[0-9A-Za-z.+-]{1,32}$/;
const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Text in several languages, by language tag; English ("en") is always there. */
export type Texts = Readonly<Record<string, string>>;

export interface CatalogEntry {
  readonly id: AppName;
  readonly version: string;
  readonly title: Texts;
  readonly summary: Texts;
  /** A longer description per language, as named data (plain UTF-8 text). */
  readonly description: Readonly<Record<string, ObjectId>>;
  readonly icon: ObjectId | null;
  /** The app's manifest as it installs: checked against the package's own before install. */
  readonly manifest: Readonly<Record<string, unknown>>;
  /** The app package (a process app), or the image's digest (an image app): one of them. */
  readonly package: ObjectId | null;
  readonly image: string | null;
}

export interface CatalogFields {
  readonly name: string;
  readonly title: Texts;
  readonly version: number;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly apps: readonly CatalogEntry[];
}

export interface Catalog extends CatalogFields {
  readonly publisher: PublisherId;
  readonly jws: string;
}

export function signCatalog(fields: CatalogFields, key: SigningKey): Catalog {
  const publisher = publisherIdFromPublicKey(key.publicKey);
  const jws = signJws(
    { alg: "EdDSA", typ: CATALOG_TYPE, kid: publisher },
    {
      name: fields.name,
      title: fields.title,
      version: fields.version,
      iat: fields.issuedAt,
      apps: fields.apps.map(entryPayload),
    },
    key,
  );
  // What was signed is what is returned: decoded again from the bytes.
  return verifyCatalog(jws, publisher);
}

/**
 * Verifies a catalog against the key its `kid` names and checks every field; with
 * `publisher`, also that it is that publisher's. Throws ProtocolError otherwise.
 */
export function verifyCatalog(jws: string, publisher?: PublisherId): Catalog {
  const decoded = decodeJws(jws, MAX_CATALOG_LENGTH);
  check(decoded.header.typ === CATALOG_TYPE, `not an app catalog (typ ${decoded.header.typ})`);
  const signer = parsePublisherId(decoded.header.kid);
  check(signer !== undefined, "the catalog's kid is not a publisher id");
  check(
    publisher === undefined || signer === publisher,
    `the catalog is signed by ${signer}, not by the accepted publisher ${publisher}`,
  );
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(signer, "publisher") as Uint8Array));
  const payload = requireRecord(decoded.payload, "catalog");
  requireOnlyFields(payload, ["name", "title", "version", "iat", "apps"], "catalog");
  const name = requireString(payload.name, "catalog name", 63);
  const checked = checkAppName(name);
  check(checked.ok, `the catalog's name is not valid: ${checked.ok ? "" : checked.reason}`);
  check(Array.isArray(payload.apps), "catalog apps must be a list");
  check(
    payload.apps.length <= MAX_CATALOG_APPS,
    `a catalog lists at most ${MAX_CATALOG_APPS} apps`,
  );
  const apps = payload.apps.map((value, index) => decodeEntry(value, `catalog app ${index}`));
  const ids = new Set(apps.map((app) => app.id));
  check(ids.size === apps.length, "the catalog lists an app twice");
  return {
    publisher: signer,
    name,
    title: texts(payload.title, "catalog title", MAX_TITLE_LENGTH),
    version: requireUint(payload.version, "catalog version"),
    issuedAt: requireUint(payload.iat, "catalog iat"),
    apps,
    jws,
  };
}

/** The text for `language`: its own, else the same language without region, else English. */
export function textIn(value: Texts, language: string): string {
  return value[language] ?? value[language.split("-")[0] as string] ?? (value.en as string);
}

/** The named data for `language` in a per-language map, as textIn chooses. */
export function objectIn(
  value: Readonly<Record<string, ObjectId>>,
  language: string,
): ObjectId | undefined {
  return value[language] ?? value[language.split("-")[0] as string] ?? value.en;
}

/** Every object an entry names: icon, descriptions, and its package. */
export function entryObjects(entry: CatalogEntry): ObjectId[] {
  return [
    ...(entry.icon ? [entry.icon] : []),
    ...Object.values(entry.description),
    ...(entry.package ? [entry.package] : []),
  ];
}

function entryPayload(entry: CatalogEntry): Record<string, unknown> {
  return {
    id: entry.id,
    version: entry.version,
    title: entry.title,
    summary: entry.summary,
    ...(Object.keys(entry.description).length > 0 ? { description: entry.description } : {}),
    ...(entry.icon ? { icon: entry.icon } : {}),
    manifest: entry.manifest,
    ...(entry.package ? { package: entry.package } : {}),
    ...(entry.image ? { image: entry.image } : {}),
  };
}

function decodeEntry(value: unknown, what: string): CatalogEntry {
  const entry = requireRecord(value, what);
  requireOnlyFields(
    entry,
    ["id", "version", "title", "summary", "description", "icon", "manifest", "package", "image"],
    what,
  );
  const id = requireString(entry.id, `${what} id`, 63);
  const name = checkAppName(id);
  check(name.ok, `${what} id is not an app id: ${name.ok ? "" : name.reason}`);
  const version = requireString(entry.version, `${what} version`, 32);
  check(VERSION.test(version), `${what} version must be letters, digits and . + -`);
  check(isRecord(entry.manifest), `${what} manifest must be a map`);
  check(
    entry.manifest.id === id && entry.manifest.version === version,
    `${what} manifest is not of ${id} ${version}`,
  );
  const pkg = entry.package === undefined ? null : objectId(entry.package, `${what} package`);
  let image: string | null = null;
  if (entry.image !== undefined) {
    image = requireString(entry.image, `${what} image`, 71);
    check(IMAGE_DIGEST.test(image), `${what} image must be sha256:<64 hex>`);
  }
  check((pkg === null) !== (image === null), `${what} names a package or an image: one of them`);
  const description: Record<string, ObjectId> = {};
  if (entry.description !== undefined) {
    const map = requireRecord(entry.description, `${what} description`);
    languages(map, `${what} description`);
    for (const [language, id] of Object.entries(map))
      description[language] = chunkId(id, `${what} description (${language})`);
  }
  return {
    id: id as AppName,
    version,
    title: texts(entry.title, `${what} title`, MAX_TITLE_LENGTH),
    summary: texts(entry.summary, `${what} summary`, MAX_SUMMARY_LENGTH),
    description,
    icon: entry.icon === undefined ? null : chunkId(entry.icon, `${what} icon`),
    manifest: entry.manifest,
    package: pkg,
    image,
  };
}

function texts(value: unknown, what: string, maxLength: number): Texts {
  const map = requireRecord(value, what);
  languages(map, what);
  check(typeof map.en === "string", `${what} has no English ("en") text`);
  const out: Record<string, string> = {};
  for (const [language, text] of Object.entries(map)) {
    out[language] = requireString(text, `${what} (${language})`, maxLength);
    check(out[language].trim().length > 0, `${what} (${language}) is empty`);
  }
  return out;
}

function languages(map: Record<string, unknown>, what: string): void {
  const tags = Object.keys(map);
  check(tags.length <= MAX_LANGUAGES, `${what} has more than ${MAX_LANGUAGES} languages`);
  for (const tag of tags) check(LANGUAGE_TAG.test(tag), `${what} has a bad language tag ${tag}`);
}

/** Small objects (an icon, a description) are one chunk: a chunk list could name gigabytes. */
function chunkId(value: unknown, what: string): ObjectId {
  const id = objectId(value, what);
  check(id.startsWith("sha256:"), `${what} must be one chunk (sha256:…)`);
  return id;
}

function objectId(value: unknown, what: string): ObjectId {
  const parsed = parseObjectId(requireString(value, what, 80));
  check(parsed !== undefined, `${what} is not an object id`);
  return parsed.id;
}
