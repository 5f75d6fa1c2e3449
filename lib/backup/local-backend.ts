/** A repository in a directory: a local disk, a mounted drive, a network file system. */
import {
  closeSync,
  type Dir,
  fstatSync,
  linkSync,
  mkdirSync,
  opendirSync,
  read,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, join, relative, sep } from "node:path";
import { MAX_DIRECTORY_NAMES } from "../../protocol/backup/formats.ts";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import {
  type Backend,
  checkRange,
  isListedName,
  isPlainName,
  isTemporaryName,
  type Listing,
  repositorySegments,
  temporaryName,
  tooLarge,
  tooManyNames,
} from "./backend.ts";
import { openInside } from "./confined-open.ts";

export class LocalBackend implements Backend {
  leftOutNames = 0;
  /**
   * The root as it was when this was opened (connect makes a target's first): its device
   * and inode, which an unplugged disk's mount point does not share.
   */
  private readonly rootWas: { readonly dev: number; readonly ino: number } | undefined;

  constructor(
    private readonly root: string,
    readonly location = root,
    /**
     * How many names a listing takes (MAX_DIRECTORY_NAMES). Only tests set it lower, to
     * reach the cap without making half a million files.
     */
    readonly maxNames = MAX_DIRECTORY_NAMES,
  ) {
    const stats = statSync(root, { throwIfNoEntry: false });
    this.rootWas = stats && { dev: stats.dev, ino: stats.ino };
  }

  async write(path: string, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const target = this.resolve(path);
    const temp = await this.writeTemp(target, data, path);
    try {
      renameSync(temp, target);
    } catch (error) {
      rmSync(temp, { force: true });
      throw this.failure(error, "write", path);
    }
    fsyncDirectory(dirname(target));
  }

  async create(path: string, data: Uint8Array): Promise<boolean> {
    const target = this.resolve(path);
    const temp = await this.writeTemp(target, data, path);
    try {
      // link() fails if the name exists: an atomic "create if absent" for whole files.
      linkSync(temp, target);
      fsyncDirectory(dirname(target));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw this.failure(error, "write", path);
    } finally {
      rmSync(temp, { force: true });
    }
  }

  async read(path: string, maxBytes: number): Promise<Uint8Array> {
    const fd = this.openInside(path);
    try {
      // Past the bound as it was opened: not read at all.
      if (fstatSync(fd).size > maxBytes) throw tooLarge(path, maxBytes);
      // Then read to one byte past the bound, whatever fstat said: it says 0 for a /proc
      // file, and a file can grow while it is read.
      const bytes = readAtMost(fd, maxBytes + 1);
      if (bytes.length > maxBytes) throw tooLarge(path, maxBytes);
      return bytes;
    } catch (error) {
      throw this.failure(error, "read", path);
    } finally {
      closeSync(fd);
    }
  }

  /** Asynchronous (on the I/O threads), so a restore's next reads overlap its work. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    const fd = this.openInside(path);
    try {
      checkRange(this.location, path, offset, length);
      // Never more than the file holds: what a short file cannot give is not allocated.
      const bytes = new Uint8Array(Math.max(0, Math.min(length, fstatSync(fd).size - offset)));
      let done = 0;
      while (done < bytes.length) {
        const bytesRead = await readAt(fd, bytes.subarray(done), offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      if (done < length) {
        throw new BuckyError(
          "E_INTEGRITY",
          `${this.location}/${path} is shorter than the index says`,
        );
      }
      return bytes;
    } catch (error) {
      throw this.failure(error, "read", path);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Read entry by entry, not whole: anyone who can write to the target can fill a
   * directory, and a via holds what it lists inside the daemon.
   */
  async list(dir: string): Promise<string[]> {
    return (await this.listing(dir, "refuse")).names;
  }

  async listTemporaries(dir: string): Promise<string[]> {
    return (await this.listing(dir, "refuse", isTemporaryName)).names;
  }

  listCut(dir: string): Promise<Listing> {
    return this.listing(dir, "cut");
  }

  private async listing(
    dir: string,
    pastCap: "refuse" | "cut",
    /** The names wanted: the files' (a temporary file is hidden), or listTemporaries'. */
    wanted: (name: string) => boolean = isListedName,
  ): Promise<Listing> {
    let listing: Dir;
    try {
      const where = this.resolve(dir);
      this.requireNoLinkTo(where, dir);
      listing = opendirSync(where);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { names: [], cut: false };
      throw this.failure(error, "list", dir);
    }
    try {
      const names: string[] = [];
      let listed = 0;
      let cut = false;
      for (let entry = listing.readSync(); entry !== null; entry = listing.readSync()) {
        if (++listed > this.maxNames) {
          if (pastCap === "refuse") throw tooManyNames(this.location, dir, this.maxNames);
          cut = true;
          break;
        }
        if (entry.isFile() && wanted(entry.name)) names.push(entry.name);
      }
      // The kernel lists no other names; checked all the same, as every backend does.
      const plain = names.filter(isPlainName);
      this.leftOutNames += names.length - plain.length;
      return { names: plain, cut };
    } catch (error) {
      throw this.failure(error, "list", dir);
    } finally {
      listing.closeSync();
    }
  }

  async remove(path: string): Promise<void> {
    try {
      const target = this.resolve(path);
      // rm does not follow a link at the last step; the directories above it are checked.
      this.requireNoLinkTo(dirname(target), path);
      rmSync(target, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw this.failure(error, "remove", path);
    }
  }

  async close(): Promise<void> {}

  private resolve(path: string): string {
    return join(this.root, ...repositorySegments(path));
  }

  /**
   * Refuses `dir` (the root or a directory below it) when a link inside the repository
   * leads there, so nothing is listed, written or removed through one: anyone who can write
   * to the target can make data/00 a link to a directory of this machine, whose files a
   * prune would then list as stray packs and delete. The root itself may be a link the
   * person gave. (A link put in between this check and the use is not caught: Node has no
   * openat. Reads are checked on the descriptor itself: openInside.)
   */
  private requireNoLinkTo(dir: string, path: string): void {
    const realRoot = realpathSync(this.root);
    const below = relative(this.root, dir);
    if (realpathSync(dir) !== (below === "" ? realRoot : join(realRoot, below)))
      throw new BuckyError(
        "E_INTEGRITY",
        `${this.location}/${path} is reached through a link inside the repository: not followed`,
        "Someone who can write to the target may have put it there; bucky makes no links.",
      );
  }

  /**
   * mkdir -p of `dir`, inside the root: one level at a time, each checked for a link. A
   * root that was there when this was opened is not made again, nor written to as another
   * directory: gone since, or an empty mount point now, its disk was unplugged, and what a
   * backup held open (the hot changes shipped every few seconds) went to whatever disk held
   * the mount point.
   */
  private makeDirectories(dir: string, path: string): void {
    const now = statSync(this.root, { throwIfNoEntry: false });
    if (this.rootWas && (!now || now.dev !== this.rootWas.dev || now.ino !== this.rootWas.ino))
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the backup target ${this.location} is not there any more: is its disk plugged in and mounted?`,
        "Backups go on by themselves once it is back.",
      );
    if (!now) mkdirSync(this.root, { recursive: true });
    let at = this.root;
    for (const segment of relative(this.root, dir).split(sep)) {
      if (segment === "") continue;
      at = join(at, segment);
      try {
        mkdirSync(at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      this.requireNoLinkTo(at, path);
    }
  }

  /**
   * A descriptor for reading `path`, a regular file inside the repository. Anyone who can
   * write to the target can put a link there, or make a directory of it one: to /dev/zero
   * (a read without end), a FIFO (one that waits for good), or a file of this machine
   * (handed on to a member by a via). None is followed; the root itself may be a link the
   * person gave.
   */
  private openInside(path: string): number {
    let fd: number | undefined;
    try {
      fd = openInside(this.resolve(path), realpathSync(this.root));
    } catch (error) {
      throw this.failure(error, "read", path);
    }
    if (fd === undefined)
      throw new BuckyError(
        "E_INTEGRITY",
        `${this.location}/${path} is no file bucky writes: a link, or not a regular file; not read`,
        "Someone who can write to the target may have put it there; run `bucky backup verify`.",
      );
    return fd;
  }

  /** A new temporary file beside `target`, written and flushed. */
  /**
   * Writes a temporary file beside `target` and syncs it to disk, asynchronously: a pack's
   * write and fsync run on the I/O threads while the backup reads and cuts the next.
   */
  private async writeTemp(
    target: string,
    data: Uint8Array | readonly Uint8Array[],
    path: string,
  ): Promise<string> {
    const temp = join(dirname(target), temporaryName());
    let file: FileHandle;
    try {
      this.makeDirectories(dirname(target), path);
      file = await open(temp, "wx", 0o600);
    } catch (error) {
      throw this.failure(error, "write", path);
    }
    try {
      let position = 0;
      for (const part of data instanceof Uint8Array ? [data] : data) {
        let written = 0;
        while (written < part.length) {
          const { bytesWritten } = await file.write(
            part,
            written,
            part.length - written,
            position + written,
          );
          written += bytesWritten;
        }
        position += part.length;
      }
      await file.sync();
    } catch (error) {
      await file.close();
      rmSync(temp, { force: true });
      throw this.failure(error, "write", path);
    }
    await file.close();
    return temp;
  }

  private failure(error: unknown, action: string, path: string): BuckyError {
    if (error instanceof BuckyError) return error;
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${this.location}/${path}`;
    if (code === "ENOENT") return new BuckyError("E_NOT_FOUND", `${where} does not exist`);
    if (code === "ENOSPC" || code === "EDQUOT") {
      return new BuckyError(
        "E_IO",
        `the backup target ${this.location} is full`,
        "Free space there, or prune old snapshots with `bucky backup prune`.",
        { cause: error },
      );
    }
    return (
      fileSystemError(error, action, where) ??
      new BuckyError("E_IO", `cannot ${action} ${where}: ${(error as Error).message}`, undefined, {
        cause: error,
      })
    );
  }
}

/**
 * Up to `limit` bytes from the start of `fd`, fewer only where the file ends first. The
 * size fstat gives is read in one buffer (the whole of a file that does not change, which
 * a caller may release), then on in parts until the file ends or the limit is reached:
 * fstat gives 0 for a /proc file, and a file can grow meanwhile.
 */
export function readAtMost(fd: number, limit: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let want = Math.min(fstatSync(fd).size, limit);
  for (;;) {
    const part = new Uint8Array(want);
    let filled = 0;
    while (filled < part.length) {
      const n = readSync(fd, part, filled, part.length - filled, total + filled);
      if (n === 0) break;
      filled += n;
    }
    if (filled > 0) parts.push(filled === part.length ? part : part.subarray(0, filled));
    total += filled;
    if (filled < part.length || total >= limit) break;
    want = Math.min(READ_ON_BYTES, limit - total);
  }
  return parts.length === 1 ? (parts[0] as Uint8Array) : new Uint8Array(Buffer.concat(parts));
}

/** The part a file read past the size fstat gave is read on in. */
const READ_ON_BYTES = 64 * 1024;

/** `bytes.length` bytes of `fd` at `position`, on the I/O threads; how many were there. */
function readAt(fd: number, bytes: Uint8Array, position: number): Promise<number> {
  return new Promise((resolve, reject) =>
    read(fd, bytes, 0, bytes.length, position, (error, bytesRead) =>
      error ? reject(error) : resolve(bytesRead),
    ),
  );
}
