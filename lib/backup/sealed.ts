/**
 * The repository's files as they are stored: compressed (zstd) where that pays, and
 * sealed (AES-256-GCM, a fresh random nonce each time) under the repository's keys, each
 * with its name or blob id bound in. The plaintext forms are in protocol/backup.
 */
import { randomBytes } from "node:crypto";
import { zstdDecompressSync } from "node:zlib";
import type { ChunkerParameters } from "../../protocol/backup/chunker.ts";
import {
  BLOB_RAW,
  BLOB_ZSTD,
  type BlobLocation,
  configCheckText,
  decodeChangesets,
  decodeIndex,
  decodeSnapshot,
  encodeChangesets,
  encodeIndex,
  encodeSnapshot,
  type IndexFile,
  indexDigest,
  inIndexOrder,
  REPOSITORY_FORMAT,
  REPOSITORY_VERSION,
  type RepositoryConfig,
  type Snapshot,
} from "../../protocol/backup/formats.ts";
import {
  blobId,
  NONCE_BYTES,
  open,
  openWith,
  type RepositoryKeys,
  seal,
} from "../../protocol/backup/keys.ts";
import { fromBase64url, toBase64url, utf8 } from "../../protocol/encoding.ts";
import { check } from "../../protocol/errors.ts";

const RAW_HEADER = new Uint8Array([BLOB_RAW]);
const ZSTD_HEADER = new Uint8Array([BLOB_ZSTD]);
/** A sample this size tells whether compressing the rest is worth it. */
const PROBE_BYTES = 16 * 1024;

function sealFresh(
  keys: Pick<RepositoryKeys, "encrypt">,
  plaintext: Uint8Array | readonly Uint8Array[],
  context: string,
): Uint8Array {
  return seal(keys, plaintext, context, randomBytes(NONCE_BYTES));
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
    check: toBase64url(sealFresh(keys, utf8(configCheckText(id)), "config")),
  };
}

/** Whether `keys` are this repository's (derived from the phrase it was made with). */
export function keysFit(config: RepositoryConfig, keys: RepositoryKeys): boolean {
  const sealed = fromBase64url(config.check);
  if (!sealed) return false;
  try {
    return new TextDecoder().decode(open(keys, sealed, "config")) === configCheckText(config.id);
  } catch {
    return false;
  }
}

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
  return sealFresh(
    keys,
    compressed ? [ZSTD_HEADER, compressed] : [RAW_HEADER, plaintext],
    `blob ${id}`,
  );
}

function compressible(plaintext: Uint8Array): boolean {
  if (plaintext.length <= PROBE_BYTES * 2) return true;
  const sample = plaintext.subarray(0, PROBE_BYTES);
  return Bun.zstdCompressSync(sample, { level: 1 }).length < PROBE_BYTES * 0.9;
}

/**
 * Opens a sealed blob and checks it is the blob `id` names (a ProtocolError if not). It is
 * decompressed to at most `maxBytes` (its size as the index says it, within what a blob can
 * be) before its id is checked: any holder of the backup key can seal a few KiB of zstd
 * that stand for gigabytes, under the id of what they stand for.
 */
export function openBlob(
  keys: RepositoryKeys,
  id: string,
  sealed: Uint8Array,
  maxBytes: number,
): Uint8Array {
  // Opened under the key epoch that sealed it, whose id key named it.
  const { plaintext: framed, keys: epoch } = openWith(keys, sealed, `blob ${id}`);
  check(framed.length >= 1, `blob ${id} is empty`);
  const body = framed.subarray(1);
  let plaintext: Uint8Array;
  if (framed[0] === BLOB_RAW) plaintext = body;
  else {
    check(framed[0] === BLOB_ZSTD, `blob ${id} has an unknown compression`);
    plaintext = decompressWithin(body, maxBytes, `blob ${id}`);
  }
  check(blobId(epoch, plaintext) === id, `blob ${id} holds other content than its id says`);
  return plaintext;
}

/**
 * Seals an index file naming `blobs`; with `sign`, signed (the blobs in the order the file
 * holds them, counted and digested: protocol/backup/index-signature.ts).
 */
export function sealIndex(
  keys: RepositoryKeys,
  name: string,
  blobs: readonly BlobLocation[],
  sign?: (ordered: { readonly blobs: number; readonly digest: string }) => string,
): Uint8Array {
  const ordered = inIndexOrder(blobs);
  const signed = sign?.({ blobs: ordered.length, digest: indexDigest(ordered) });
  return sealFresh(keys, Bun.zstdCompressSync(encodeIndex(ordered, signed)), `index ${name}`);
}

/**
 * Opens an index file, bounded by its sealed size: it decompresses to no more than an honest
 * file of that size can (INDEX_PLAINTEXT_PER_SEALED_BYTE) and names no more blobs than one
 * can (INDEX_SEALED_BYTES_PER_BLOB). Any holder of the backup key writes index files, and
 * every backup, verify, prune and restore reads them all: a 5.7 MB file of made-up entries
 * that compress to a byte each stood for 6 million blobs, and took a load minutes and GBs.
 * Now what a file costs to open is in proportion to what it takes on the target.
 */
export function openIndex(keys: RepositoryKeys, name: string, sealed: Uint8Array): IndexFile {
  const plaintextMax = Math.min(
    MAX_INDEX_PLAINTEXT_BYTES,
    sealed.length * INDEX_PLAINTEXT_PER_SEALED_BYTE + INDEX_PLAINTEXT_SLACK_BYTES,
  );
  const honestly = `, more than its ${sealed.length} sealed bytes can honestly hold`;
  const plaintext = decompressWithin(
    open(keys, sealed, `index ${name}`),
    plaintextMax,
    `index ${name}`,
    honestly,
  );
  return decodeIndex(
    name,
    plaintext,
    Math.ceil(sealed.length / INDEX_SEALED_BYTES_PER_BLOB),
    honestly,
  );
}

/**
 * Each blob an index file names takes at least this many of its sealed bytes: its id is a
 * keyed hash, 32 random bytes no compression shrinks (measured: 39 to 72 bytes a blob,
 * sealed, for files of 10 to 100000 blobs, one to a thousand a pack). 24 leaves a margin.
 */
const INDEX_SEALED_BYTES_PER_BLOB = 24;
/**
 * An index file decompresses to at most this many times its sealed bytes, plus
 * INDEX_PLAINTEXT_SLACK_BYTES for its fixed parts (the signature): measured 2.3 to 3.4 for
 * files of 10 to 100000 blobs, the most with every number at its largest.
 */
const INDEX_PLAINTEXT_PER_SEALED_BYTE = 6;
const INDEX_PLAINTEXT_SLACK_BYTES = 64 * 1024;

export function sealSnapshot(keys: RepositoryKeys, name: string, snapshot: Snapshot): Uint8Array {
  return sealFresh(keys, encodeSnapshot(snapshot), `snapshot ${name}`);
}

export function openSnapshot(keys: RepositoryKeys, name: string, sealed: Uint8Array): Snapshot {
  return decodeSnapshot(name, open(keys, sealed, `snapshot ${name}`));
}

export function sealChangesets(
  keys: RepositoryKeys,
  name: string,
  changesets: readonly Uint8Array[],
): Uint8Array {
  return sealFresh(keys, Bun.zstdCompressSync(encodeChangesets(changesets)), `hot ${name}`);
}

export function openChangesets(
  keys: RepositoryKeys,
  name: string,
  sealed: Uint8Array,
): Uint8Array[] {
  return decodeChangesets(
    name,
    decompressWithin(
      open(keys, sealed, `hot ${name}`),
      MAX_HOT_PLAINTEXT_BYTES,
      `hot file ${name}`,
    ),
  );
}

/**
 * The most an index or a hot file may hold once decompressed: any holder of the backup key
 * writes them, and a few KiB of zstd can stand for gigabytes. Twice what a genuine one
 * can be (repository.ts MAX_INDEX_FILE_BYTES, hot.ts MAX_HOT_FILE_BYTES, both sealed sizes).
 */
export const MAX_INDEX_PLAINTEXT_BYTES = 512 * 1024 * 1024;
export const MAX_HOT_PLAINTEXT_BYTES = 64 * 1024 * 1024;

/**
 * Decompresses at most `maxBytes`, stopping there: a ProtocolError for more (saying `why`
 * the bound is what it is), or for bytes that are no zstd.
 */
export function decompressWithin(
  bytes: Uint8Array,
  maxBytes: number,
  what: string,
  why = "",
): Uint8Array {
  try {
    return new Uint8Array(zstdDecompressSync(bytes, { maxOutputLength: maxBytes }));
  } catch (error) {
    if (error instanceof RangeError)
      check(false, `${what} decompresses to over ${maxBytes} bytes${why}`);
    check(false, `${what} does not decompress`);
  }
}
