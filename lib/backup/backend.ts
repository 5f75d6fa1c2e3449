/**
 * Where a backup repository lives: a directory (a local disk, a mounted USB drive) or an
 * SFTP server. The repository code sees only this interface; paths are relative to the
 * repository's root and use `/`.
 *
 * Every write is whole or absent: a backend writes to a temporary name and renames, so a
 * run killed half way leaves at worst a stray temporary file (which a prune removes), never
 * a torn one. Failures
 * are BuckyErrors: E_NOT_FOUND for a missing file, E_IO for a full or failing target,
 * E_UNAVAILABLE for one that cannot be reached, E_PERMISSION when access is refused.
 */
import { randomBytes } from "node:crypto";
import { MAX_DIRECTORY_NAMES } from "../../protocol/backup/formats.ts";
import { BuckyError } from "../errors.ts";

export interface Backend {
  /** The target as the user named it, for messages. */
  readonly location: string;
  /** The most one write may carry, when there is a limit (a target reached through another device). */
  readonly maxWriteBytes?: number;
  /**
   * Set when a read comes whole, up to this many bytes, before `read` checks its bound (a
   * target reached through another device, which sends what it read in one answer): a
   * smaller bound there holds no less memory, and a read refused for it is sent again.
   */
  readonly readsWholeUpTo?: number;
  /**
   * Set when a lock read through this backend carries its age by a device's own clock
   * (`ageMs`): a via stamps it as it reads a lock out. Elsewhere, anyone holding the
   * backup key writes the file, age and all, and an `ageMs` in it is not believed.
   */
  readonly agesLocks?: true;
  /**
   * Writes `data` to `path` (creating directories), replacing any file there. Data in
   * parts is written one after the other (a pack need not be copied into one buffer).
   */
  write(path: string, data: Uint8Array | readonly Uint8Array[]): Promise<void>;
  /** Writes `data` to `path` only if nothing is there; false if something was. */
  create(path: string, data: Uint8Array): Promise<boolean>;
  /**
   * The whole of `path`, or an E_TOO_LARGE error when it holds more than `maxBytes`: every
   * file is one anyone who can write to the target can grow, and every device reads it, so
   * no read goes without a bound.
   */
  read(path: string, maxBytes: number): Promise<Uint8Array>;
  /** `length` bytes of `path` from `offset`. */
  readRange(path: string, offset: number, length: number): Promise<Uint8Array>;
  /**
   * The names of the files in directory `dir` (not recursive); none if it is missing. Only
   * plain names (isPlainName): others are left out and counted in `leftOutNames`. A
   * directory listed with more than MAX_DIRECTORY_NAMES is refused (tooManyNames); see listCut.
   */
  list(dir: string): Promise<string[]>;
  /**
   * As list(), but a directory with more entries than MAX_DIRECTORY_NAMES gives the files
   * among the first MAX_DIRECTORY_NAMES it lists (in the target's order), `cut`, not a
   * refusal. Only for hot/ (see HOT_DIR), the one directory an honest repository fills
   * without bound: the memory bound holds, and a prune or a restore goes on with part.
   */
  listCut(dir: string): Promise<Listing>;
  /**
   * How many names this backend's listings left out as no file's name: only a hostile
   * server, or a via passing one's listing on, gives such names. Said once in the log by
   * whoever used the backend.
   */
  readonly leftOutNames?: number;
  /** Removes `path`; nothing if it is already gone. */
  remove(path: string): Promise<void>;
  /**
   * The temporary files (temporaryName) that writes cut off (a process killed, a connection
   * lost) left in directory `dir`. No listing shows them, so only a prune removes them,
   * holding the exclusive lock, when no write can be in flight. Absent through a via (a
   * prune runs where the target is reached).
   */
  listTemporaries?(dir: string): Promise<string[]>;
  close(): Promise<void>;
}

/** A listing that may stop at MAX_DIRECTORY_NAMES entries: `cut` when the directory held more. */
export interface Listing {
  readonly names: string[];
  readonly cut: boolean;
}

/** A name for a file a write fills before it renames it into place: hidden from listings. */
export function temporaryName(): string {
  return `.tmp-${randomBytes(6).toString("hex")}`;
}

/** Whether a listing gives `name`: hidden files (a temporary one among them) it does not. */
export function isListedName(name: string): boolean {
  return !name.startsWith(".");
}

/** Whether `name` is one temporaryName gives. */
export function isTemporaryName(name: string): boolean {
  return /^\.tmp-[0-9a-f]{12}$/.test(name);
}

/**
 * Whether `name`, as a listing gives it, can be a file of the directory listed: one plain
 * path segment (no "/", no NUL, not "", "." or "..") a file system takes (NAME_MAX bytes at
 * most). An SFTP server, or a via passing a listing on, can list any string, and names are
 * joined into paths: one such as "0/../../dev/zero" led the index cache's lookup out of
 * the cache, and one over 255 bytes had the cache's lookup fail the load (ENAMETOOLONG).
 * Such a name is left out, not the listing refused: one planted name does not stop a good
 * repository's backups.
 */
export function isPlainName(name: string): boolean {
  return (
    name !== "" &&
    name !== "." &&
    name !== ".." &&
    !name.includes("/") &&
    !name.includes("\0") &&
    Buffer.byteLength(name) <= NAME_MAX_BYTES
  );
}

/** The longest file name Linux file systems take (NAME_MAX), in bytes. */
const NAME_MAX_BYTES = 255;

/** What a backend throws for a directory listed with more names than a repository's holds. */
export function tooManyNames(
  location: string,
  dir: string,
  maxNames = MAX_DIRECTORY_NAMES,
): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    `${location}/${dir} lists more than ${maxNames} names, more than a backup repository's directory holds: not listed`,
    "Someone who can write to the target may have filled that directory, or the server lists what is not there; look at what it holds.",
  );
}

/** What a backend throws when a file holds more than a read allows. */
export function tooLarge(path: string, maxBytes: number): BuckyError {
  return new BuckyError("E_TOO_LARGE", `${path} holds more than ${maxBytes} bytes: not read`);
}

/**
 * The segments of a path inside a repository, or an E_INTEGRITY refusal. Names reach the
 * backends from files any holder of the backup key writes (an index file's pack ids): one
 * naming `../../x` had prune delete a file outside the repository. The repository checks
 * ids where it reads them; the backends refuse to leave their root all the same.
 */
export function repositorySegments(path: string): string[] {
  const segments = path.split("/");
  if (segments.some((segment) => segment === "" || segment === "." || segment === ".."))
    throw new BuckyError(
      "E_INTEGRITY",
      `${JSON.stringify(path.slice(0, 200))} is no path inside a backup repository`,
      "Someone holding the backup key may have written a file that names it; run `bucky backup verify`.",
    );
  return segments;
}

/**
 * The most one range read asks a backend for: the largest blob a repository holds (a tree
 * of 256 MiB) sealed, with room. The lengths come from index files any holder of the
 * backup key writes; the repository checks them where it reads them, and the backends
 * allocate nothing past this all the same.
 */
export const MAX_RANGE_BYTES = 260 * 1024 * 1024;

/** Refuses a range read past MAX_RANGE_BYTES, or one that is no range at all. */
export function checkRange(location: string, path: string, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    length > MAX_RANGE_BYTES
  )
    throw new BuckyError(
      "E_INTEGRITY",
      `${location}/${path}: a read of ${length} bytes at ${offset} is past what any blob can be`,
      "Someone holding the backup key may have written an index file that names it; run `bucky backup verify`.",
    );
}
