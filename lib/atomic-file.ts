/**
 * Durable file writes: write a temporary file beside the target, fsync it, rename it
 * over the target and fsync the directory. A reader sees the old file or the new one,
 * never a torn one, even if the process is killed or the machine loses power.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";

export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): void {
  const temp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(temp, "wx", mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data) : data;
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
  fsyncDirectory(dirname(path));
}

/** Makes a rename or a new directory entry in `dir` durable. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
