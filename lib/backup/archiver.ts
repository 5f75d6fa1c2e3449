/**
 * Turning a tree of files into blobs: each file cut into chunks (content-defined, or
 * page-aligned for SQLite databases), each directory into a tree blob, bottom up, and
 * only what the repository lacks is added. A file whose size, times and inode match the
 * last run's is not read again: its chunks are taken from the metadata cache.
 *
 * A file that changes while it is read is read again (twice at most), then taken as it
 * was last read and reported. A SQLite database is read through SQLite, so the copy is
 * consistent even while it is being written (its -wal and -shm files are then skipped).
 */

import { isUtf8 } from "node:buffer";
import {
  closeSync,
  type Dirent,
  fstatSync,
  lstatSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Chunker } from "../../protocol/backup/chunker.ts";
import { SQLITE_CHUNK_BYTES } from "../../protocol/backup/chunker.ts";
import type { BlobType } from "../../protocol/backup/formats.ts";
import { encodeTree, type TreeNode } from "../../protocol/backup/formats.ts";
import { fileSystemError } from "../errors.ts";
import {
  type FileIdentity,
  isNoSuchName,
  lstatIfThere,
  openConfined,
  openDirectoryConfined,
  openInside,
} from "./confined-open.ts";
import { databaseFiles, startsWith } from "./database-files.ts";
import type { FileCache, FileFacts } from "./file-cache.ts";
import { isSparse, sqliteImageOf } from "./sqlite-image.ts";
import { writerWatch } from "./sqlite-locks.ts";

/** What goes into a snapshot's root: real directories, and files made in memory. */
export type Entry =
  | { readonly kind: "dir"; readonly path: string; readonly skip?: (name: string) => boolean }
  | {
      readonly kind: "bytes";
      readonly bytes: Uint8Array;
      readonly mode: number;
      readonly mtimeNs: bigint;
    }
  | {
      readonly kind: "virtual";
      readonly children: ReadonlyMap<string, Entry>;
      /** The directory's mode (default 0755). */
      readonly mode?: number;
    };

/**
 * Where blobs go: a backup repository (sealed, packed) or a replica's object store.
 * `add` names a blob and stores it unless held: its id, and its size when it was new.
 */
export interface BlobSink {
  readonly chunker: Chunker;
  has(id: string): boolean;
  add(type: BlobType, plaintext: Uint8Array): Promise<{ id: string; added: number }>;
  /** Resolves when there is room for more work (a backpressure point). */
  room(): Promise<void>;
  /** Resolves once everything added is stored. */
  flush(): Promise<void>;
}

export interface ArchiveProgress {
  files: number;
  bytes: number;
  addedBytes: number;
}

export interface ArchiveResult {
  readonly tree: string;
  readonly files: number;
  readonly bytes: number;
  /** Plaintext bytes of the new blobs. */
  readonly addedBytes: number;
  /** Bytes of the files read anew: changed since the last run (or never seen by it). */
  readonly changedBytes: number;
  /** Files that kept changing while they were read. */
  readonly changing: readonly string[];
  /**
   * Entries left out because their names are not UTF-8, which a tree's names are (shown
   * by their bytes, `\xHH` for any that is not printable ASCII): said, never dropped
   * silently.
   */
  readonly leftOut: readonly string[];
}

type FileStat = NonNullable<ReturnType<Archiver["lstat"]>>;

/** What a directory's entries add up to: their nodes, and the chunks of files still being named. */
interface Listing {
  readonly nodes: TreeNode[];
  readonly contents: Promise<void>[];
}

const READ_BUFFER_BYTES = 16 * 1024 * 1024;
const READ_ATTEMPTS = 3;
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");
const SQLITE_SIDECARS = ["-wal", "-shm", "-journal"];
/** How many copies of a database are tried for one of a single moment. */
const IMAGE_ATTEMPTS = 3;
/** How long the second try waits for a writer to finish (the third twice as long). */
const IMAGE_RETRY_MS = 50;
/** A database with no image, its writer holding the lock of one putting pages in its file. */
const WRITER_PART_WAY = "writer part way";

export class Archiver {
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly progress: ArchiveProgress = { files: 0, bytes: 0, addedBytes: 0 };
  private readonly changing: string[] = [];
  private readonly leftOut: string[] = [];
  private changedBytes = 0;

  constructor(
    private readonly repository: BlobSink,
    private readonly cache: FileCache | undefined,
    private readonly onProgress: (progress: Readonly<ArchiveProgress>) => void = () => {},
    /** Where consistent images of SQLite databases are made, a moment each. */
    private readonly scratchDir: string = tmpdir(),
  ) {}

  async archive(root: ReadonlyMap<string, Entry>): Promise<ArchiveResult> {
    const tree = await this.virtual(root, "");
    await this.repository.flush();
    return {
      tree,
      ...this.progress,
      changedBytes: this.changedBytes,
      changing: this.changing,
      leftOut: this.leftOut,
    };
  }

  private async virtual(children: ReadonlyMap<string, Entry>, at: string): Promise<string> {
    const nodes: TreeNode[] = [];
    for (const [name, entry] of children) {
      const path = at ? `${at}/${name}` : name;
      if (entry.kind === "virtual") {
        nodes.push({
          name,
          type: "dir",
          mode: entry.mode ?? 0o755,
          mtimeNs: "0",
          subtree: await this.virtual(entry.children, path),
        });
      } else if (entry.kind === "bytes") {
        nodes.push({
          name,
          type: "file",
          mode: entry.mode,
          mtimeNs: String(entry.mtimeNs),
          size: entry.bytes.length,
          content: await this.pageChunks(entry.bytes),
        });
        this.counted(entry.bytes.length);
        this.changedBytes += entry.bytes.length;
      } else {
        const stat = this.lstat(entry.path);
        if (!stat?.isDirectory()) continue;
        const realRoot = realpathSync(entry.path);
        const subtree = await this.directory(entry.path, path, realRoot, stat, entry.skip);
        if (subtree === undefined) continue;
        nodes.push({
          name,
          type: "dir",
          mode: Number(stat.mode) & 0o7777,
          mtimeNs: String(stat.mtimeNs),
          subtree,
        });
      }
    }
    return this.addTree(nodes);
  }

  /**
   * A real directory, recursively: its tree blob's id. Undefined, and said to be changing,
   * when it is no longer the directory `looked` at (removed, or swapped for a link, to a
   * directory outside the tree say, whose names root would have listed for the app). It
   * is listed, and its entries reached, through a descriptor of it: a directory above it
   * swapped meanwhile leads nowhere else.
   */
  private async directory(
    path: string,
    at: string,
    /** The real path of the tree being read: no file outside it is read. */
    realRoot: string,
    looked: FileIdentity,
    skip?: (name: string) => boolean,
  ): Promise<string | undefined> {
    const opened = openDirectoryConfined(path, realRoot, looked);
    if (opened === undefined) {
      this.changedSince(at);
      return undefined;
    }
    try {
      return await this.listed(`/proc/self/fd/${opened}`, at, realRoot, skip);
    } finally {
      closeSync(opened);
    }
  }

  /** The directory `dir` (reached through its descriptor) read: its tree blob's id. */
  private async listed(
    dir: string,
    at: string,
    realRoot: string,
    skip?: (name: string) => boolean,
  ): Promise<string> {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      throw fileSystemError(error, "read", at) ?? error;
    }
    entries = this.withUtf8Names(dir, entries, at);
    const names = new Set(entries.map((e) => e.name));
    /** The database beside it that a name is the log, journal or shared memory of. */
    const sidecarOf = (name: string) => {
      for (const suffix of SQLITE_SIDECARS) {
        const database = name.slice(0, -suffix.length);
        if (
          name.endsWith(suffix) &&
          names.has(database) &&
          isSqliteInside(join(dir, database), realRoot)
        )
          return { database, suffix };
      }
      return undefined;
    };
    // A database's log and journal, found first: they are read right after it, if at all.
    const sidecars = new Map<string, string[]>();
    const isSidecar = new Set<string>();
    for (const { name } of entries) {
      const sidecar = skip?.(name) ? undefined : sidecarOf(name);
      if (!sidecar) continue;
      isSidecar.add(name);
      // Its shared memory is an index of its log that SQLite makes anew: never kept.
      if (sidecar.suffix !== "-shm")
        sidecars.set(sidecar.database, [...(sidecars.get(sidecar.database) ?? []), name]);
    }
    const into: Listing = { nodes: [], contents: [] };
    for (const { name } of entries) {
      if (skip?.(name) || isSidecar.has(name)) continue;
      const added = await this.entry(dir, name, at, realRoot, into);
      const beside = sidecars.get(name);
      if (beside && added?.imaged === false)
        await this.besideDatabase(dir, name, added.looked, beside, at, realRoot, into);
    }
    // Files' chunks are named on worker threads while the next files are read: the
    // directory waits for them once, at its end.
    await Promise.all(into.contents);
    return this.addTree(into.nodes);
  }

  /**
   * A database not imaged (it was read as a file) keeps its log and its journal beside it,
   * read right after it, for SQLite to replay or roll back once restored: but only if the
   * database was not written since it was looked at. Otherwise they are of another moment
   * than it, and replayed over it would break it: they are left out, and it is said to be
   * changing. A sparse "log" is none SQLite wrote: holes cost an app nothing, and reading a
   * terabyte of them would take hours.
   */
  private async besideDatabase(
    dir: string,
    database: string,
    looked: FileStat,
    sidecars: readonly string[],
    at: string,
    realRoot: string,
    into: Listing,
  ): Promise<void> {
    const before = into.nodes.length;
    for (const name of sidecars) {
      const stat = this.lstat(join(dir, name));
      if (stat && !isSparse({ size: Number(stat.size), blocks: Number(stat.blocks) }))
        await this.entry(dir, name, at, realRoot, into);
    }
    const now = this.lstat(join(dir, database));
    if (now?.ctimeNs === looked.ctimeNs && now.size === looked.size) return;
    into.nodes.splice(before);
    this.changedSince(`${at}/${database}`);
  }

  /**
   * The entries whose names are UTF-8; the others are said to be left out, each by its
   * bytes (`caf\xe9.txt`). A name that is not comes decoded with U+FFFD in place of its bad
   * bytes, a name no file has: looked up by it, the file seemed gone since the listing, and
   * was dropped without a word. Only a listing with a U+FFFD in some name is read again, as
   * bytes, to tell which: a UTF-8 name with a U+FFFD of its own, decoded alike, is kept.
   */
  private withUtf8Names(dir: string, entries: Dirent[], at: string): Dirent[] {
    if (!entries.some((entry) => entry.name.includes("\uFFFD"))) return entries;
    const utf8 = new Set<string>();
    const notUtf8 = new Set<string>();
    for (const raw of readdirSync(dir, { encoding: "buffer" })) {
      if (isUtf8(raw)) utf8.add(raw.toString("utf8"));
      else {
        notUtf8.add(raw.toString("utf8"));
        this.leftOut.push(`${at}/${escapedName(raw)}`);
      }
    }
    if (notUtf8.size === 0) return entries;
    // Entries of one decoded name cannot be told apart: the UTF-8 one, if any, is one of them.
    const kept = new Set<string>();
    return entries.filter((entry) => {
      if (!notUtf8.has(entry.name)) return true;
      if (!utf8.has(entry.name) || kept.has(entry.name)) return false;
      kept.add(entry.name);
      return true;
    });
  }

  /** Says the entry at `rel` changed while it was read. */
  private changedSince(rel: string): void {
    if (!this.changing.includes(rel)) this.changing.push(rel);
  }

  /**
   * Adds the entry `name` of `dir` to `into`: for a file, whether it is a SQLite database
   * that was imaged, and how it looked before it was read. Undefined for anything else, or
   * what is gone: sockets, FIFOs and devices are not data, and are skipped.
   */
  private async entry(
    dir: string,
    name: string,
    at: string,
    realRoot: string,
    into: Listing,
  ): Promise<{ imaged: boolean; looked: FileStat } | undefined> {
    const path = join(dir, name);
    const rel = `${at}/${name}`;
    const stat = this.lstat(path);
    if (!stat) return undefined; // gone since the listing: nothing to keep
    const common = { name, mode: Number(stat.mode) & 0o7777, mtimeNs: String(stat.mtimeNs) };
    if (stat.isDirectory()) {
      const subtree = await this.directory(path, rel, realRoot, stat);
      if (subtree !== undefined) into.nodes.push({ ...common, type: "dir", subtree });
    } else if (stat.isSymbolicLink()) {
      const target = linkTarget(path);
      if (target === undefined) this.changedSince(rel);
      // A target that is not UTF-8 would be kept decoded, with U+FFFD in place of its bad
      // bytes, and restored as a link to a name nothing has: left out, and said so.
      else if (!isUtf8(target)) this.leftOut.push(rel);
      else into.nodes.push({ ...common, type: "symlink", target: target.toString("utf8") });
    } else if (stat.isFile()) {
      const file = await this.file(path, rel, stat, realRoot);
      if (!file) return undefined;
      const { imaged, ...facts } = file;
      const node = { ...common, type: "file" as const, ...facts, content: [] as string[] };
      into.nodes.push(node);
      const filled = file.content.then((ids) => {
        node.content = ids;
      });
      filled.catch(() => {}); // awaited by the directory, unless an error ends it first
      into.contents.push(filled);
      return { imaged, looked: stat };
    }
    return undefined;
  }

  private async file(
    path: string,
    rel: string,
    stat: FileStat,
    realRoot: string,
  ): Promise<
    { size: number; content: Promise<string[]>; mtimeNs: string; imaged: boolean } | undefined
  > {
    const facts: FileFacts = {
      size: Number(stat.size),
      mtimeNs: String(stat.mtimeNs),
      ctimeNs: String(stat.ctimeNs),
      inode: String(stat.ino),
    };
    // A SQLite database is imaged every time: in WAL mode its file stays the same while
    // its log takes the commits, so its size and times say nothing of what changed.
    const sqlite = isSqliteFile(path, realRoot, stat);
    const known = sqlite ? undefined : this.cache?.lookup(rel, facts);
    if (known?.every((id) => this.repository.has(id))) {
      this.cache?.keep(rel, facts, known);
      this.counted(facts.size);
      const content = Promise.resolve(known);
      return { size: facts.size, content, mtimeNs: facts.mtimeNs, imaged: false };
    }
    if (sqlite) {
      const image = await this.confinedImage(path, realRoot, stat);
      // Its writer still putting pages in the file, with no journal on disk to undo them
      // (journal mode MEMORY or OFF): its bytes, read next, are half a transaction that
      // nothing marks as such. Kept all the same, but said, never passed as whole.
      if (image === WRITER_PART_WAY) this.changedSince(rel);
      else if (image !== undefined) {
        try {
          const content = await this.imageChunks(image);
          this.counted(content.bytes);
          this.changedBytes += content.bytes;
          return {
            size: content.bytes,
            content: Promise.all(content.ids),
            mtimeNs: facts.mtimeNs,
            imaged: true,
          };
        } finally {
          closeSync(image);
        }
      }
    }
    const read = await this.readFile(path, rel, realRoot, stat);
    if (!read) return undefined;
    const content = read.content.then((ids) => {
      // Read while it changed, its chunks may be torn: the next run reads it again rather
      // than take them as the file's for as long as its facts stay as they ended.
      if (read.steady) this.cache?.keep(rel, read.facts, ids);
      return ids;
    });
    return { size: read.facts.size, content, mtimeNs: read.facts.mtimeNs, imaged: false };
  }

  /**
   * Reads and chunks a file; again if it changed meanwhile, and at the last try kept as read
   * but not `steady`. Undefined if it vanished.
   */
  private async readFile(
    path: string,
    rel: string,
    realRoot: string,
    identity: FileIdentity,
  ): Promise<{ facts: FileFacts; content: Promise<string[]>; steady: boolean } | undefined> {
    for (let attempt = 1; ; attempt++) {
      let fd: number | undefined;
      try {
        fd = openConfined(path, realRoot, identity);
      } catch (error) {
        throw fileSystemError(error, "read", path) ?? error;
      }
      // Gone, or no longer the file that was looked at: nothing of it is kept.
      if (fd === undefined) return undefined;
      try {
        const before = factsOf(fstatSync(fd, { bigint: true }));
        const content = await this.chunkFile(fd);
        const after = { ...factsOf(fstatSync(fd, { bigint: true })), seenAtMs: Date.now() };
        const steady = before.size === after.size && before.mtimeNs === after.mtimeNs;
        if (steady || attempt === READ_ATTEMPTS) {
          if (!steady) this.changedSince(rel);
          this.counted(content.bytes);
          this.changedBytes += content.bytes;
          return {
            facts: { ...after, size: content.bytes },
            content: Promise.all(content.ids),
            steady,
          };
        }
        // Read again: what was named of this attempt is not needed, but must not fail unseen.
        void Promise.all(content.ids).catch(() => {});
      } finally {
        closeSync(fd);
      }
    }
  }

  /**
   * A consistent image of the SQLite database at `path`, the file that was looked at,
   * inside the tree (see confined-open.ts): read through its descriptor and its log's, never
   * by name (sqliteImageOf), as a descriptor of the image to read and close. Undefined when
   * it is not, or the copy was not of one moment in a few tries (it is then read as a file,
   * and said to be changing if it is).
   */
  private async confinedImage(
    path: string,
    realRoot: string,
    identity: FileIdentity,
  ): Promise<number | typeof WRITER_PART_WAY | undefined> {
    const fd = openConfined(path, realRoot, identity);
    if (fd === undefined) return undefined;
    try {
      for (let attempt = 1; attempt <= IMAGE_ATTEMPTS; attempt++) {
        // A writer part way: given a moment to finish.
        if (attempt > 1) await Bun.sleep(IMAGE_RETRY_MS * (attempt - 1));
        const files = databaseFiles(path, fd, realRoot);
        try {
          const image = sqliteImageOf(files, this.scratchDir);
          if (image !== undefined) return image;
        } finally {
          files.close();
        }
      }
      return writerWatch(fd)() ? WRITER_PART_WAY : undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Cuts what `fd` holds into content-defined chunks and adds them; their ids to come. */
  private async chunkFile(fd: number): Promise<{ ids: Promise<string>[]; bytes: number }> {
    const buffer = this.buffer;
    const { maxBytes } = this.repository.chunker.parameters;
    const ids: Promise<string>[] = [];
    let filled = 0;
    let start = 0;
    let position = 0;
    let eof = false;
    for (;;) {
      if (!eof && filled - start < maxBytes) {
        buffer.copyWithin(0, start, filled);
        filled -= start;
        start = 0;
        while (filled < buffer.length) {
          const n = readSync(fd, buffer, filled, buffer.length - filled, position);
          if (n === 0) {
            eof = true;
            break;
          }
          filled += n;
          position += n;
        }
      }
      if (start >= filled) break;
      const length = this.repository.chunker.cut(buffer, start, filled);
      ids.push(this.addData(buffer.subarray(start, start + length)));
      await this.repository.room();
      start += length;
    }
    return { ids, bytes: position };
  }

  /**
   * Chunks the SQLite image `fd` holds as pageChunks does, read a chunk at a time into the
   * read buffer (each chunk is copied as it is added): its ids to come, and its size.
   */
  private async imageChunks(fd: number): Promise<{ ids: Promise<string>[]; bytes: number }> {
    const ids: Promise<string>[] = [];
    let position = 0;
    for (;;) {
      const read = readSync(fd, this.buffer, 0, SQLITE_CHUNK_BYTES, position);
      if (read === 0) return { ids, bytes: position };
      ids.push(this.addData(this.buffer.subarray(0, read)));
      position += read;
      await this.repository.room();
    }
  }

  /** Chunks a SQLite image at page-aligned offsets: a changed page changes one chunk. */
  private async pageChunks(bytes: Uint8Array): Promise<string[]> {
    const ids: Promise<string>[] = [];
    for (let start = 0; start < bytes.length; start += SQLITE_CHUNK_BYTES) {
      ids.push(this.addData(bytes.subarray(start, start + SQLITE_CHUNK_BYTES)));
      await this.repository.room();
    }
    return Promise.all(ids);
  }

  /** Adds a chunk (copied at once: the read buffer may be reused); its id, to come. */
  private addData(chunk: Uint8Array): Promise<string> {
    const id = this.repository.add("data", chunk).then(({ id, added }) => {
      this.progress.addedBytes += added;
      return id;
    });
    // A failure also comes out of room() and flush(), so a caller stopped by one may
    // leave this unawaited: it must not count as unhandled.
    id.catch(() => {});
    return id;
  }

  private async addTree(nodes: readonly TreeNode[]): Promise<string> {
    const { id } = await this.repository.add("tree", encodeTree(nodes));
    await this.repository.room();
    return id;
  }

  private counted(bytes: number): void {
    this.progress.files += 1;
    this.progress.bytes += bytes;
    this.onProgress(this.progress);
  }

  private lstat(path: string) {
    try {
      return lstatIfThere(path);
    } catch (error) {
      throw fileSystemError(error, "read", path) ?? error;
    }
  }
}

function factsOf(
  stat: ReturnType<typeof fstatSync> & { mtimeNs: bigint; ctimeNs: bigint },
): FileFacts {
  return {
    size: Number(stat.size),
    mtimeNs: String(stat.mtimeNs),
    ctimeNs: String(stat.ctimeNs),
    inode: String(stat.ino),
  };
}

/** Whether the file looked at as `identity`, still inside the tree, is a SQLite database. */
function isSqliteFile(path: string, realRoot: string, identity: FileIdentity): boolean {
  return startsWith(openConfined(path, realRoot, identity), SQLITE_HEADER);
}

/** A name's bytes as text: printable ASCII as it is, any other byte (and `\`) as `\xHH`. */
function escapedName(raw: Uint8Array): string {
  let text = "";
  for (const byte of raw)
    text +=
      byte >= 0x20 && byte < 0x7f && byte !== 0x5c
        ? String.fromCharCode(byte)
        : `\\x${byte.toString(16).padStart(2, "0")}`;
  return text;
}

/** Whether `path` is a SQLite database inside the tree: a regular file, not through a link. */
function isSqliteInside(path: string, realRoot: string): boolean {
  try {
    return startsWith(openInside(path, realRoot), SQLITE_HEADER);
  } catch {
    return false;
  }
}

/** How many files and bytes a root holds, for a progress line's totals (a stat walk). */
export function measure(root: ReadonlyMap<string, Entry>): { files: number; bytes: number } {
  const total = { files: 0, bytes: 0 };
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        total.files += 1;
        try {
          total.bytes += lstatSync(path).size;
        } catch {
          // Gone already: it will not be counted by the backup either.
        }
      }
    }
  };
  const visit = (entries: ReadonlyMap<string, Entry>) => {
    for (const entry of entries.values()) {
      if (entry.kind === "virtual") visit(entry.children);
      else if (entry.kind === "bytes") {
        total.files += 1;
        total.bytes += entry.bytes.length;
      } else walk(entry.path);
    }
  };
  visit(root);
  return total;
}

/** The target of the link at `path`, as bytes, or undefined when it is no longer a link there. */
function linkTarget(path: string): Buffer | undefined {
  try {
    return readlinkSync(path, { encoding: "buffer" });
  } catch (error) {
    if (isNoSuchName(error) || (error as NodeJS.ErrnoException).code === "EINVAL") return undefined;
    throw error;
  }
}
