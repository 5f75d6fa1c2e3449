/**
 * Opening a file of a tree that someone else may be changing under us (an app's data,
 * read as root for a backup or a replica): between the look at a name and the open, the
 * app can put a symbolic link there, or make a directory above it one, so that root reads
 * a file outside the tree (/etc/shadow, bucky's own keys) and hands it back to the app at
 * the next restore. So the open never follows a link at the last step, must reach the
 * very file that was looked at (device and inode), and must have landed inside the tree
 * (the descriptor's own path, as the kernel has it).
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync } from "node:fs";

export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** A descriptor for reading `path`, or undefined when it is no longer that file inside `root`. */
export function openConfined(
  path: string,
  realRoot: string,
  expected: FileIdentity,
): number | undefined {
  let fd: number;
  try {
    // Non-blocking: a FIFO put there meanwhile must not hang the reader.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENXIO") return undefined;
    throw error;
  }
  if (isConfined(fd, realRoot, expected)) return fd;
  closeSync(fd);
  return undefined;
}

/** Whether `fd` is still `expected`, a regular file inside `realRoot`. */
export function isConfined(fd: number, realRoot: string, expected: FileIdentity): boolean {
  const stat = fstatSync(fd, { bigint: true });
  if (!stat.isFile() || stat.dev !== expected.dev || stat.ino !== expected.ino) return false;
  return landedInside(fd, realRoot);
}

/**
 * A descriptor for reading `path`, or undefined when it is no regular file inside
 * `realRoot`: a link at its last step is not followed, a directory above it that leads out
 * of the tree is caught, and a FIFO, device, socket or directory there is neither read nor
 * waited on. Where there is nothing to open (ENOENT, EACCES), the error is thrown as it is.
 * For a tree someone else writes to whose files are read by name, not looked at first.
 */
export function openInside(path: string, realRoot: string): number | undefined {
  // Looked at first: opening a device node can do something (a tape rewinds, a terminal
  // becomes the controlling one). Something put there after the look is still caught below.
  if (!lstatSync(path).isFile()) return undefined;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENXIO") return undefined;
    throw error;
  }
  if (fstatSync(fd).isFile() && landedInside(fd, realRoot)) return fd;
  closeSync(fd);
  return undefined;
}

/** Whether the file `fd` was opened at is inside `realRoot`, by the path the kernel has for it. */
function landedInside(fd: number, realRoot: string): boolean {
  const prefix = realRoot.endsWith("/") ? realRoot : `${realRoot}/`;
  return readlinkSync(`/proc/self/fd/${fd}`).startsWith(prefix);
}
