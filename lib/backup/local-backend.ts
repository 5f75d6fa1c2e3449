/** A repository in a directory: a local disk, a mounted drive, a network file system. */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fstatSync,
  linkSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fsyncDirectory } from "../atomic-file.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import { type Backend, checkRange, repositorySegments, tooLarge } from "./backend.ts";

export class LocalBackend implements Backend {
  constructor(
    private readonly root: string,
    readonly location = root,
  ) {}

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
    let fd: number;
    try {
      fd = openSync(this.resolve(path), "r");
    } catch (error) {
      throw this.failure(error, "read", path);
    }
    try {
      if (maxBytes !== undefined && fstatSync(fd).size > maxBytes) throw tooLarge(path, maxBytes);
      return new Uint8Array(readFileSync(fd));
    } catch (error) {
      if (error instanceof BuckyError) throw error;
      throw this.failure(error, "read", path);
    } finally {
      closeSync(fd);
    }
  }

  /** Asynchronous (on the I/O threads), so a restore's next reads overlap its work. */
  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    let file: FileHandle;
    try {
      file = await open(this.resolve(path), "r");
    } catch (error) {
      throw this.failure(error, "read", path);
    }
    try {
      checkRange(this.location, path, offset, length);
      // Never more than the file holds: what a short file cannot give is not allocated.
      const bytes = new Uint8Array(
        Math.max(0, Math.min(length, (await file.stat()).size - offset)),
      );
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await file.read(bytes, done, bytes.length - done, offset + done);
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
      if (error instanceof BuckyError) throw error;
      throw this.failure(error, "read", path);
    } finally {
      await file.close();
    }
  }

  async list(dir: string): Promise<string[]> {
    try {
      return readdirSync(this.resolve(dir), { withFileTypes: true })
        .filter((entry) => entry.isFile() && !entry.name.startsWith("."))
        .map((entry) => entry.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw this.failure(error, "list", dir);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      rmSync(this.resolve(path), { force: true });
    } catch (error) {
      throw this.failure(error, "remove", path);
    }
  }

  async close(): Promise<void> {}

  private resolve(path: string): string {
    return join(this.root, ...repositorySegments(path));
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
    const temp = join(dirname(target), `.tmp-${randomBytes(6).toString("hex")}`);
    let file: FileHandle;
    try {
      mkdirSync(dirname(target), { recursive: true });
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
