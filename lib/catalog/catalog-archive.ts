/**
 * A catalog file unpacked: a .tar, or a .tar.gz, of a catalog's directory, read by the one
 * tar reader (lib/archive/tar-archive.ts) within bounds a real catalog never comes near.
 */
import { MAX_CATALOG_LENGTH } from "../../protocol/catalog.ts";
import {
  type ArchiveLimits,
  type ArchiveWords,
  archiveBytesOf,
  unpackArchive,
} from "../archive/tar-archive.ts";
import { MAX_OBJECT_BYTES } from "./sources.ts";

export type { ArchiveLimits } from "../archive/tar-archive.ts";

/**
 * A catalog file's bounds: all its files together at most what the local API takes as a
 * plain .tar (1 GiB), 10,000 entries (a catalog of a dozen apps has a few hundred), and
 * each file at most the largest a catalog holds (an object of its packages, or its index).
 */
export const CATALOG_ARCHIVE_LIMITS: ArchiveLimits = {
  totalBytes: 1024 * 1024 * 1024,
  entries: 10_000,
  fileBytes: Math.max(MAX_OBJECT_BYTES, MAX_CATALOG_LENGTH),
};

/**
 * A catalog file as sent, at most: its files' bound, and room for every entry's header
 * and padding and tar's closing blocks. Past it an upload is refused as it arrives.
 */
export const CATALOG_FILE_BYTES = archiveBytesOf(CATALOG_ARCHIVE_LIMITS);

const CATALOG_WORDS: ArchiveWords = {
  noun: "catalog file",
  aNoun: "a catalog file",
  dir: "the catalog's directory",
  choose: "Choose the catalog's .tar or .tar.gz file, as its publisher made it.",
  compressed: "Unpack it and add its directory, or pack the directory again with `tar -czf`.",
  repack: "Pack the catalog's directory as `bucky store publish` wrote it, with `tar -czf`.",
  tooLarge:
    "Nothing was kept. Ask its publisher for the catalog's own file, or add it by its address.",
};

/**
 * Unpacks a catalog file (its bytes, or its chunks as they arrive) into the empty
 * directory `target`, or refuses it; the caller removes `target` on a refusal.
 */
export function unpackCatalogArchive(
  archive: Uint8Array | AsyncIterable<Uint8Array>,
  target: string,
  limits: ArchiveLimits = CATALOG_ARCHIVE_LIMITS,
): Promise<void> {
  return unpackArchive(archive, target, limits, CATALOG_WORDS);
}
