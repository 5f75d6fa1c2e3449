/**
 * The files of a backup repository (see docs/backup-repository.md):
 *
 *   config               plain JSON: format, repository id, chunker sizes, key check
 *   data/<xx>/<pack>     packs: sealed blobs back to back
 *   index/<name>         sealed JSON: which pack holds each blob, where, signed by its writer
 *   snapshots/<name>     sealed JSON: when, what, and the root tree's blob id
 *   hot/<device>/<name>  sealed CBOR: changesets shipped between snapshots
 *   locks/<name>         plain JSON: who is writing
 *
 * A blob is the unit of content: a chunk of a file, or a tree (one directory's listing).
 * Its id is the keyed hash of its plaintext; in a pack it is sealed with its id as
 * context, and its plaintext starts with one byte saying how it was compressed.
 *
 * This module holds the plaintext forms; lib/backup/sealed.ts compresses and seals them.
 */
import { createHash } from "node:crypto";
import { fromBase64url, toBase64url, utf8 } from "../encoding.ts";
import { check } from "../errors.ts";
import { parseZoneId } from "../ids.ts";
import { checkDeviceName } from "../names.ts";
import { isRecord, parseJsonBytes } from "../shape.ts";
import type { ChunkerParameters } from "./chunker.ts";

export const REPOSITORY_FORMAT = "bucky-backup-repository";
export const REPOSITORY_VERSION = 1;

/**
 * The most names one directory of a repository is listed with (2^19). The largest are
 * index/, a file for each pack written since the last prune (which merges them), and each
 * data/<xx>, a 256th of the packs: this is 8 TiB of 16 MiB packs written between prunes,
 * or 2 PiB of packs in all, where bucky's other bounds are set for terabytes (some four
 * million blobs). About what a via's answer carries (16 MiB: some 500000 index names),
 * and tens of MB held. Anyone who can write to the target can fill a directory, and a
 * hostile server can list without end: a listing past this is refused, not held.
 */
export const MAX_DIRECTORY_NAMES = 1 << 19;

export interface RepositoryConfig {
  readonly format: typeof REPOSITORY_FORMAT;
  readonly version: number;
  readonly id: string;
  readonly createdAt: string;
  readonly chunker: ChunkerParameters;
  /** A known text sealed under the repository's keys: opening it proves the right phrase. */
  readonly check: string;
}

/** What a config's key check holds once opened: the phrase that made it is the one in use. */
export function configCheckText(id: string): string {
  return `bucky backup repository ${id}`;
}

/**
 * The most a config file may hold: its fields are a few hundred bytes. Anyone who can write
 * to the target can replace it, and every device opening the repository reads it: a larger
 * one is not read.
 */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024;

export function decodeConfig(bytes: Uint8Array): RepositoryConfig {
  check(bytes.length <= MAX_CONFIG_FILE_BYTES, "the repository config is too large");
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

// Blobs ----------------------------------------------------------------------------

export type BlobType = "data" | "tree";
/** The first byte of a blob's framed plaintext: how the rest is compressed. */
export const BLOB_RAW = 0;
export const BLOB_ZSTD = 1;

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

/** An index file's contents: the blobs it names, and the signature of the device that wrote it. */
export interface IndexFile {
  readonly blobs: BlobLocation[];
  /**
   * The signed record of the device that wrote it (protocol/backup/index-signature.ts), as
   * found, unchecked; absent from the index files of an older bucky.
   */
  readonly signed?: unknown;
}

/**
 * `blobs` in the order an index file holds them: grouped by pack, packs in the order they
 * first appear, each pack's blobs in their order (what decodeIndex gives back).
 */
export function inIndexOrder(blobs: readonly BlobLocation[]): BlobLocation[] {
  const packs = new Map<string, BlobLocation[]>();
  for (const blob of blobs) {
    const list = packs.get(blob.pack);
    if (list) list.push(blob);
    else packs.set(blob.pack, [blob]);
  }
  return [...packs.values()].flat();
}

/**
 * The SHA-256 (hex) of the blobs an index file names, in the order it holds them: what its
 * signature covers. Of what they mean, not of the file's bytes, so it is the same however
 * the JSON is spelled.
 */
export function indexDigest(blobs: readonly BlobLocation[]): string {
  const hash = createHash("sha256");
  // In batches of lines: a call per blob costs more than the hashing (a million blobs).
  let batch = "";
  for (const blob of blobs) {
    batch += `${blob.pack} ${blob.id} ${blob.type} ${blob.offset} ${blob.length} ${blob.size}\n`;
    if (batch.length >= 64 * 1024) {
      hash.update(batch);
      batch = "";
    }
  }
  hash.update(batch);
  return hash.digest("hex");
}

/** An index file naming `blobs` (in index order: inIndexOrder), with its signature if any. */
export function encodeIndex(blobs: readonly BlobLocation[], signed?: string): Uint8Array {
  // Grouped by pack: the pack id is not repeated for each of its blobs.
  const packs = new Map<string, [string, BlobType, number, number, number][]>();
  for (const blob of blobs) {
    const list = packs.get(blob.pack) ?? [];
    list.push([blob.id, blob.type, blob.offset, blob.length, blob.size]);
    packs.set(blob.pack, list);
  }
  return utf8(
    JSON.stringify({
      packs: Object.fromEntries(packs),
      ...(signed !== undefined ? { signed } : {}),
    }),
  );
}

/** A blob id (a keyed SHA-256) or a pack id (the SHA-256 of its bytes): 64 hex digits. */
const CONTENT_ID = /^[0-9a-f]{64}$/;

/**
 * An index file's contents, each entry checked: any holder of the backup key writes them,
 * and a pack id becomes a path (data/<xx>/<pack>) that a prune may delete, so it is a pack
 * id or the file is refused, never `../` anything. One naming more than `maxBlobs` is
 * refused too, with `why` the bound's reason.
 */
export function decodeIndex(
  name: string,
  bytes: Uint8Array,
  maxBlobs = Number.POSITIVE_INFINITY,
  why = "",
): IndexFile {
  const value = parseJsonBytes(bytes, `index ${name}`);
  check(isRecord(value) && isRecord(value.packs), `index ${name} is malformed`);
  const blobs: BlobLocation[] = [];
  for (const [pack, list] of Object.entries(value.packs)) {
    check(CONTENT_ID.test(pack), `index ${name} names a pack that is no pack id`);
    check(Array.isArray(list), `index ${name} is malformed`);
    check(
      blobs.length + list.length <= maxBlobs,
      `index ${name} names more than ${maxBlobs} blobs${why}`,
    );
    for (const entry of list) {
      check(
        Array.isArray(entry) &&
          // At least the five this bucky knows: a newer bucky's may add more after them.
          entry.length >= 5 &&
          typeof entry[0] === "string" &&
          CONTENT_ID.test(entry[0]) &&
          (entry[1] === "data" || entry[1] === "tree") &&
          entry.slice(2, 5).every((n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0),
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
  return value.signed === undefined ? { blobs } : { blobs, signed: value.signed };
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
  // Written out (a restore, a takeover), a name twice, one no file system takes, or a time
  // that is no number failed with the runtime's own error: a bug, to a daemon.
  const names = new Set<string>();
  for (const node of value.nodes as unknown[]) {
    check(
      isRecord(node) &&
        typeof node.name === "string" &&
        node.name !== "" &&
        node.name !== "." &&
        node.name !== ".." &&
        !node.name.includes("/") &&
        !node.name.includes("\0") &&
        typeof node.mode === "number" &&
        typeof node.mtimeNs === "string" &&
        /^-?\d{1,30}$/.test(node.mtimeNs),
      "a tree has a malformed entry",
    );
    check(!names.has(node.name as string), `a tree names ${node.name} twice`);
    names.add(node.name as string);
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
  /**
   * The signed record of the device that took it (protocol/backup/snapshot-signature.ts);
   * absent from the snapshots of an older bucky.
   */
  readonly signed?: string;
}

export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  return utf8(JSON.stringify(snapshot));
}

/**
 * The most a snapshot file may hold: its fields and a signature are a few kilobytes. Any
 * holder of the backup key can write one, and every backup, list and restore reads them
 * all: a larger one is not read.
 */
export const MAX_SNAPSHOT_FILE_BYTES = 64 * 1024;
const SNAPSHOT_TIME_MAX_LENGTH = 40;
const SNAPSHOT_HOSTNAME_MAX_LENGTH = 255;
const SNAPSHOT_ID_MAX_LENGTH = 64;

/**
 * A snapshot file's contents, its fields checked: any holder of the backup key writes them,
 * and they are shown (list, the panel, errors) and compared (device names): a device name
 * that is a name, a zone that is a zone id, a parent that is a snapshot's name, text of
 * bounded length without control characters.
 */
export function decodeSnapshot(name: string, bytes: Uint8Array): Snapshot {
  check(bytes.length <= MAX_SNAPSHOT_FILE_BYTES, `snapshot ${name} is too large`);
  const value = parseJsonBytes(bytes, `snapshot ${name}`);
  check(
    isRecord(value) &&
      plainText(value.time, SNAPSHOT_TIME_MAX_LENGTH) &&
      typeof value.tree === "string" &&
      /^[0-9a-f]{1,64}$/.test(value.tree) &&
      isRecord(value.stats) &&
      ["files", "bytes", "addedBytes", "durationMs"].every((field) =>
        isCount((value.stats as Record<string, unknown>)[field]),
      ),
    `snapshot ${name} is malformed`,
  );
  check(
    typeof value.device === "string" && checkDeviceName(value.device).ok,
    `snapshot ${name} names no device`,
  );
  check(
    typeof value.zone === "string" && parseZoneId(value.zone) !== undefined,
    `snapshot ${name} names no zone`,
  );
  check(
    plainText(value.hostname, SNAPSHOT_HOSTNAME_MAX_LENGTH),
    `snapshot ${name} has a malformed hostname`,
  );
  check(
    value.parent === null ||
      (typeof value.parent === "string" &&
        /^[0-9a-f]+$/.test(value.parent) &&
        value.parent.length <= SNAPSHOT_ID_MAX_LENGTH),
    `snapshot ${name} has a malformed parent`,
  );
  return value as unknown as Snapshot;
}

/** A string of at most `maxLength` characters, none of them a control character. */
function plainText(value: unknown, maxLength: number): value is string {
  if (typeof value !== "string" || value.length > maxLength) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return false;
  }
  return true;
}

// Hot changesets -------------------------------------------------------------------

export function encodeChangesets(changesets: readonly Uint8Array[]): Uint8Array {
  return utf8(JSON.stringify(changesets.map((bytes) => toBase64url(bytes))));
}

export function decodeChangesets(name: string, bytes: Uint8Array): Uint8Array[] {
  const value = parseJsonBytes(bytes, `hot file ${name}`);
  check(Array.isArray(value), `hot file ${name} is malformed`);
  return value.map((text) => {
    const decoded = typeof text === "string" ? fromBase64url(text) : undefined;
    check(decoded !== undefined, `hot file ${name} is malformed`);
    return decoded;
  });
}

/** A whole number of files, bytes or milliseconds, as a snapshot's stats count them. */
function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
