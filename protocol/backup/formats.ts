/**
 * The files of a backup repository (see docs/backup-repository.md):
 *
 *   config               plain JSON: format, repository id, chunker sizes, key check
 *   data/<xx>/<pack>     packs: sealed blobs back to back
 *   index/<name>         sealed JSON: which pack holds each blob, where
 *   snapshots/<name>     sealed JSON: when, what, and the root tree's blob id
 *   hot/<device>/<name>  sealed CBOR: changesets shipped between snapshots
 *   locks/<name>         plain JSON: who is writing
 *
 * A blob is the unit of content: a chunk of a file, or a tree (one directory's listing).
 * Its id is the keyed hash of its plaintext; in a pack it is sealed with its id as
 * context, and its plaintext starts with one byte saying how it was compressed.
 */
import { fromBase64url, toBase64url, utf8 } from "../encoding.ts";
import { check } from "../errors.ts";
import { isRecord } from "../shape.ts";
import type { ChunkerParameters } from "./chunker.ts";
import { blobId, open, type RepositoryKeys, seal } from "./keys.ts";

export const REPOSITORY_FORMAT = "bucky-backup-repository";
export const REPOSITORY_VERSION = 1;

export interface RepositoryConfig {
  readonly format: typeof REPOSITORY_FORMAT;
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly chunker: ChunkerParameters;
  /** A known text sealed under the repository's keys: opening it proves the right phrase. */
  readonly check: string;
}

export function newConfig(
  id: string,
  keys: RepositoryKeys,
  chunker: ChunkerParameters,
  now: Date,
): RepositoryConfig {
  return {
    format: REPOSITORY_FORMAT,
    version: REPOSITORY_VERSION,
    id,
    createdAt: now.toISOString(),
    chunker,
    check: toBase64url(seal(keys, utf8(checkText(id)), "config")),
  };
}

export function decodeConfig(bytes: Uint8Array): RepositoryConfig {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    check(false, "the repository config is not JSON");
  }
  check(
    isRecord(value) && value.format === REPOSITORY_FORMAT,
    "this is not a bucky backup repository",
  );
  check(
    value.version === REPOSITORY_VERSION,
    `the repository is format version ${String(value.version)}; this bucky reads ${REPOSITORY_VERSION}`,
  );
  check(
    typeof value.id === "string" && /^[0-9a-f]{32}$/.test(value.id),
    "the repository id is malformed",
  );
  const chunker = value.chunker as Record<string, unknown> | undefined;
  check(
    isRecord(chunker) &&
      [chunker.minBytes, chunker.avgBytes, chunker.maxBytes].every(
        (n) => typeof n === "number" && Number.isSafeInteger(n) && n > 0,
      ),
    "the repository's chunker sizes are malformed",
  );
  check(typeof value.check === "string", "the repository config has no key check");
  return value as unknown as RepositoryConfig;
}

/** Whether `keys` are this repository's (derived from the phrase it was made with). */
export function keysFit(config: RepositoryConfig, keys: RepositoryKeys): boolean {
  const sealed = fromBase64url(config.check);
  if (!sealed) return false;
  try {
    return new TextDecoder().decode(open(keys, sealed, "config")) === checkText(config.id);
  } catch {
    return false;
  }
}

function checkText(id: string): string {
  return `bucky backup repository ${id}`;
}

// Blobs ----------------------------------------------------------------------------

export type BlobType = "data" | "tree";
const RAW = 0;
const ZSTD = 1;

const RAW_HEADER = new Uint8Array([RAW]);
const ZSTD_HEADER = new Uint8Array([ZSTD]);
/** A sample this size tells whether compressing the rest is worth it. */
const PROBE_BYTES = 16 * 1024;

/**
 * Seals a blob's plaintext for a pack: compressed when that makes it smaller. Photos,
 * video and archives do not compress; a quick look at the start of a blob spares them the
 * cost of trying.
 */
export function sealBlob(
  keys: Pick<RepositoryKeys, "encrypt">,
  id: string,
  plaintext: Uint8Array,
): Uint8Array {
  let compressed: Uint8Array | undefined;
  if (plaintext.length >= 64 && compressible(plaintext)) {
    compressed = Bun.zstdCompressSync(plaintext, { level: 3 });
    if (compressed.length >= plaintext.length - 16) compressed = undefined;
  }
  return seal(keys, compressed ? [ZSTD_HEADER, compressed] : [RAW_HEADER, plaintext], `blob ${id}`);
}

function compressible(plaintext: Uint8Array): boolean {
  if (plaintext.length <= PROBE_BYTES * 2) return true;
  const sample = plaintext.subarray(0, PROBE_BYTES);
  return Bun.zstdCompressSync(sample, { level: 1 }).length < PROBE_BYTES * 0.9;
}

/** Opens a sealed blob and checks it is the blob `id` names. */
export function openBlob(keys: RepositoryKeys, id: string, sealed: Uint8Array): Uint8Array {
  const framed = open(keys, sealed, `blob ${id}`);
  check(framed.length >= 1, `blob ${id} is empty`);
  const body = framed.subarray(1);
  let plaintext: Uint8Array;
  if (framed[0] === RAW) plaintext = body;
  else {
    check(framed[0] === ZSTD, `blob ${id} has an unknown compression`);
    try {
      plaintext = Bun.zstdDecompressSync(body);
    } catch {
      check(false, `blob ${id} does not decompress`);
    }
  }
  check(blobId(keys, plaintext) === id, `blob ${id} holds other content than its id says`);
  return plaintext;
}

// Index ----------------------------------------------------------------------------

export interface BlobLocation {
  readonly id: string;
  readonly type: BlobType;
  readonly pack: string;
  readonly offset: number;
  /** Sealed length, in the pack. */
  readonly length: number;
  /** Plaintext length. */
  readonly size: number;
}

export function sealIndex(
  keys: RepositoryKeys,
  name: string,
  blobs: readonly BlobLocation[],
): Uint8Array {
  // Grouped by pack: the pack id is not repeated for each of its blobs.
  const packs = new Map<string, [string, BlobType, number, number, number][]>();
  for (const blob of blobs) {
    const list = packs.get(blob.pack) ?? [];
    list.push([blob.id, blob.type, blob.offset, blob.length, blob.size]);
    packs.set(blob.pack, list);
  }
  const json = JSON.stringify({ packs: Object.fromEntries(packs) });
  return seal(keys, Bun.zstdCompressSync(utf8(json)), `index ${name}`);
}

export function openIndex(keys: RepositoryKeys, name: string, sealed: Uint8Array): BlobLocation[] {
  const value = parseSealedJson(keys, `index ${name}`, sealed);
  check(isRecord(value) && isRecord(value.packs), `index ${name} is malformed`);
  const blobs: BlobLocation[] = [];
  for (const [pack, list] of Object.entries(value.packs)) {
    check(Array.isArray(list), `index ${name} is malformed`);
    for (const entry of list) {
      check(
        Array.isArray(entry) &&
          typeof entry[0] === "string" &&
          (entry[1] === "data" || entry[1] === "tree") &&
          entry.slice(2).every((n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0),
        `index ${name} has a malformed entry`,
      );
      blobs.push({
        id: entry[0],
        type: entry[1],
        pack,
        offset: entry[2],
        length: entry[3],
        size: entry[4],
      });
    }
  }
  return blobs;
}

// Trees ----------------------------------------------------------------------------

export type TreeNode =
  | {
      readonly name: string;
      readonly type: "file";
      readonly mode: number;
      /** Modification time in nanoseconds since the epoch, as a decimal string. */
      readonly mtimeNs: string;
      readonly size: number;
      readonly content: readonly string[];
    }
  | {
      readonly name: string;
      readonly type: "dir";
      readonly mode: number;
      readonly mtimeNs: string;
      readonly subtree: string;
    }
  | {
      readonly name: string;
      readonly type: "symlink";
      readonly mode: number;
      readonly mtimeNs: string;
      readonly target: string;
    };

/** A directory's listing as a blob: sorted, so the same directory is the same blob. */
export function encodeTree(nodes: readonly TreeNode[]): Uint8Array {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return utf8(JSON.stringify({ nodes: sorted }));
}

export function decodeTree(bytes: Uint8Array): TreeNode[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    check(false, "a tree is not JSON");
  }
  check(isRecord(value) && Array.isArray(value.nodes), "a tree has no nodes");
  for (const node of value.nodes as unknown[]) {
    check(
      isRecord(node) &&
        typeof node.name === "string" &&
        node.name !== "" &&
        node.name !== "." &&
        node.name !== ".." &&
        !node.name.includes("/") &&
        typeof node.mode === "number" &&
        typeof node.mtimeNs === "string",
      "a tree has a malformed entry",
    );
    if (node.type === "file")
      check(
        typeof node.size === "number" &&
          Array.isArray(node.content) &&
          node.content.every((id) => typeof id === "string"),
        `tree entry ${node.name} is a malformed file`,
      );
    else if (node.type === "dir")
      check(typeof node.subtree === "string", `tree entry ${node.name} is a malformed directory`);
    else
      check(
        node.type === "symlink" && typeof node.target === "string",
        `tree entry ${node.name} has an unknown type`,
      );
  }
  return value.nodes as TreeNode[];
}

// Snapshots ------------------------------------------------------------------------

export interface Snapshot {
  readonly version: number;
  /** ISO 8601, when the run started. */
  readonly time: string;
  readonly zone: string;
  readonly device: string;
  readonly hostname: string;
  /** The root tree's blob id. */
  readonly tree: string;
  readonly parent: string | null;
  readonly stats: {
    readonly files: number;
    readonly bytes: number;
    readonly addedBytes: number;
    readonly durationMs: number;
  };
}

export function sealSnapshot(keys: RepositoryKeys, name: string, snapshot: Snapshot): Uint8Array {
  return seal(keys, utf8(JSON.stringify(snapshot)), `snapshot ${name}`);
}

export function openSnapshot(keys: RepositoryKeys, name: string, sealed: Uint8Array): Snapshot {
  const value = JSON.parse(new TextDecoder().decode(open(keys, sealed, `snapshot ${name}`)));
  check(
    isRecord(value) &&
      typeof value.time === "string" &&
      typeof value.tree === "string" &&
      isRecord(value.stats),
    `snapshot ${name} is malformed`,
  );
  return value as unknown as Snapshot;
}

// Hot changesets -------------------------------------------------------------------

export function sealChangesets(
  keys: RepositoryKeys,
  name: string,
  changesets: readonly Uint8Array[],
): Uint8Array {
  const json = JSON.stringify(changesets.map((bytes) => toBase64url(bytes)));
  return seal(keys, Bun.zstdCompressSync(utf8(json)), `hot ${name}`);
}

export function openChangesets(
  keys: RepositoryKeys,
  name: string,
  sealed: Uint8Array,
): Uint8Array[] {
  const value = parseSealedJson(keys, `hot ${name}`, sealed);
  check(Array.isArray(value), `hot file ${name} is malformed`);
  return value.map((text) => {
    const bytes = typeof text === "string" ? fromBase64url(text) : undefined;
    check(bytes !== undefined, `hot file ${name} is malformed`);
    return bytes;
  });
}

function parseSealedJson(keys: RepositoryKeys, context: string, sealed: Uint8Array): unknown {
  const compressed = open(keys, sealed, context);
  try {
    return JSON.parse(new TextDecoder().decode(Bun.zstdDecompressSync(compressed)));
  } catch {
    check(false, `${context} is malformed`);
  }
}
