/**
 * The file a fetch writes into: a temporary file beside its destination, written at any
 * offset in any order, that takes the destination's name only once it is whole and
 * durable (fsynced, then renamed, then its directory fsynced).
 *
 * Whole pages at page offsets go straight to the disk (O_DIRECT) where the file system
 * takes it: through the page cache, each byte was copied into pages the kernel had just
 * allocated, and on this machine that cost `bucky get` 2.3 s of CPU a GiB (curl into a file
 * pays it too, 1.3–2.2 s), then the final fsync wrote it all out again. What is not whole
 * pages (a file's tail), or all of it where O_DIRECT is refused, goes through the cache and
 * is handed to the disk every SYNC_EVERY_BYTES while the fetch goes on. Either way the
 * final fsync makes the file durable: it flushes the disk's own cache too.
 *
 * The destination is never written over: the file takes its name by a hard link, which
 * fails if something took the name while the fetch went on. A command interrupted by a
 * signal removes its partial files first (removePartialFiles).
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  existsSync,
  fdatasync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  write,
} from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";

/** What O_DIRECT asks of a write's offset, length and memory here (the page size). */
export const DIRECT_ALIGN_BYTES = 4096;
/**
 * What was written through the page cache is handed to the disk every this many bytes, on
 * a thread of the runtime's, while the fetch goes on: the kernel would otherwise hold a
 * large file's every byte in memory until the final fsync, and that fsync would then
 * write it all while the fetch waits (0.7 s of 3 for 1 GiB here).
 */
const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

/** The temporary files of this process's fetches that are not done yet. */
const partialFiles = new Set<string>();

/** Removes the temporary files of fetches not done yet: for a command ended by a signal. */
export function removePartialFiles(): void {
  for (const path of partialFiles) rmSync(path, { force: true });
  partialFiles.clear();
}

export class PartialFile {
  private readonly syncing: BackgroundSync;

  private constructor(
    private readonly destination: string,
    private readonly temp: string,
    /** The file, through the page cache. */
    private readonly fd: number,
    /** The same file opened with O_DIRECT, when the file system takes it. */
    private readonly directFd: number | undefined,
  ) {
    this.syncing = new BackgroundSync(fd);
  }

  /** A new, empty temporary file beside `destination`. */
  static open(destination: string): PartialFile {
    const temp = join(dirname(destination), `.${randomBytes(6).toString("hex")}.bucky-partial`);
    let fd: number;
    try {
      fd = openSync(temp, "wx", 0o644);
    } catch (error) {
      throw fileSystemError(error, "write", destination) ?? error;
    }
    partialFiles.add(temp);
    try {
      return new PartialFile(destination, temp, fd, openDirect(temp));
    } catch (error) {
      closeSync(fd);
      rmSync(temp, { force: true });
      partialFiles.delete(temp);
      throw fileSystemError(error, "write", destination) ?? error;
    }
  }

  /** Writes all of `bytes` at `offset`, off the main thread. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    if (this.directFd !== undefined && isAligned(offset) && isAligned(bytes.length)) {
      done = await writeAll(this.directFd, bytes, offset, { direct: true });
    }
    if (done < bytes.length) {
      await writeAll(this.fd, bytes.subarray(done), offset + done, { direct: false });
      this.syncing.wrote(bytes.length - done);
    }
  }

  /**
   * Makes the file durable and gives it the destination's name, itself made durable: a
   * fetch that says it is done is there after a crash. No write may be under way.
   */
  async commit(): Promise<void> {
    try {
      await this.syncing.settled();
      fsyncSync(this.fd);
    } catch (error) {
      this.discardNow();
      throw fileSystemError(error, "write", this.destination) ?? error;
    }
    this.close();
    try {
      takeName(this.temp, this.destination);
    } catch (error) {
      this.remove();
      throw fileSystemError(error, "write", this.destination) ?? error;
    }
    this.remove();
    try {
      fsyncDirectory(dirname(this.destination));
    } catch (error) {
      throw fileSystemError(error, "write", this.destination) ?? error;
    }
  }

  /** Closes and removes the file, once no sync runs. No write may be under way. */
  async discard(): Promise<void> {
    await this.syncing.settled().catch(() => undefined);
    this.discardNow();
  }

  private discardNow(): void {
    this.close();
    this.remove();
  }

  private remove(): void {
    rmSync(this.temp, { force: true });
    partialFiles.delete(this.temp);
  }

  private close(): void {
    closeSync(this.fd);
    if (this.directFd !== undefined) closeSync(this.directFd);
  }
}

/**
 * Gives the file at `temp` the name `destination` unless something has it: a hard link
 * fails where a rename would write over it. A file system without hard links gets a
 * rename, after a look.
 */
function takeName(temp: string, destination: string): void {
  try {
    linkSync(temp, destination);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw appeared(destination);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw error;
  }
  if (existsSync(destination)) throw appeared(destination);
  renameSync(temp, destination);
}

function appeared(destination: string): BuckyError {
  return new BuckyError(
    "E_EXISTS",
    `${destination} appeared while the file was fetched; it was left as it is and nothing was written`,
    "Fetch it again to another path with -o, or remove that file first.",
  );
}

/** `path` opened again for writing with O_DIRECT; undefined where the file system refuses it. */
function openDirect(path: string): number | undefined {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch (error) {
    // tmpfs and some others refuse O_DIRECT with EINVAL: the page cache serves there.
    if ((error as NodeJS.ErrnoException).code === "EINVAL") return undefined;
    throw error;
  }
}

function isAligned(value: number): boolean {
  return value % DIRECT_ALIGN_BYTES === 0;
}

/**
 * Writes `bytes` at `offset` of `fd`; returns how many it wrote: all of them, or, `direct`,
 * fewer when O_DIRECT refuses the rest (EINVAL: memory not aligned as it asks, which this
 * runtime does not promise), which the caller then writes through the page cache.
 */
async function writeAll(
  fd: number,
  bytes: Uint8Array,
  offset: number,
  { direct }: { direct: boolean },
): Promise<number> {
  let done = 0;
  while (done < bytes.length) {
    try {
      done += await new Promise<number>((resolve, reject) =>
        write(fd, bytes, done, bytes.length - done, offset + done, (error, written) =>
          error ? reject(error) : resolve(written),
        ),
      );
    } catch (error) {
      if (direct && (error as NodeJS.ErrnoException).code === "EINVAL") return done;
      throw error;
    }
  }
  return done;
}

/**
 * Data syncs of a file being written, one at a time, each once another SYNC_EVERY_BYTES
 * were written: they only start the disk's work early. The caller's own fsync at the end
 * is what makes the file durable.
 */
class BackgroundSync {
  private unsynced = 0;
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(private readonly fd: number) {}

  wrote(bytes: number): void {
    this.unsynced += bytes;
    if (this.running || this.unsynced < SYNC_EVERY_BYTES) return;
    this.unsynced = 0;
    this.running = new Promise<void>((resolve) =>
      fdatasync(this.fd, (error) => {
        this.failure ??= error ?? undefined;
        this.running = undefined;
        resolve();
      }),
    );
  }

  /** Once no sync runs; throws what one met (a full or failing disk). */
  async settled(): Promise<void> {
    await this.running;
    if (this.failure) throw this.failure;
  }
}
