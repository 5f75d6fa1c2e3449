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

/**
 * open(2)'s O_PATH (Linux; node:fs does not name it): a descriptor that names the file a
 * path leads to without opening it. A device's driver is not called (a watchdog would arm,
 * a terminal attach), a FIFO is not waited on or woken, and reading is refused. A directory
 * above the file swapped for a link can still lead anywhere, so the descriptor is checked
 * before the file is opened for reading, through the descriptor and never by name again.
 */
const O_PATH = 0o10000000;

/** A descriptor for reading `path`, or undefined when it is no longer that file inside `root`. */
export function openConfined(
  path: string,
  realRoot: string,
  expected: FileIdentity,
): number | undefined {
  let named: number;
  try {
    // At its last step a link is named, not followed: it is then no regular file.
    named = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    if (isNoSuchName(error)) return undefined;
    throw error;
  }
  try {
    return isConfined(named, realRoot, expected) ? openNamed(named) : undefined;
  } finally {
    closeSync(named);
  }
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
 * of the tree is caught, and a FIFO, device, socket or directory there is neither opened
 * nor waited on. Where there is nothing to open (ENOENT, EACCES), the error is thrown as it
 * is. For a tree someone else writes to whose files are read by name, not looked at first.
 */
export function openInside(path: string, realRoot: string): number | undefined {
  let named: number;
  try {
    named = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (error) {
    // A loop of links above it leads nowhere, like a link at its last step.
    if ((error as NodeJS.ErrnoException).code === "ELOOP") return undefined;
    throw error;
  }
  try {
    return fstatSync(named).isFile() && landedInside(named, realRoot)
      ? openNamed(named)
      : undefined;
  } finally {
    closeSync(named);
  }
}

/**
 * A descriptor of the directory at `path` to list and to reach its entries through (as
 * `/proc/self/fd/<fd>/<name>`, where no directory above it is walked again), or undefined
 * when it is no longer the directory `expected` (when given) inside `realRoot`, or the tree
 * itself: a link at its last step is not followed, one above it that leads out is caught.
 */
export function openDirectoryConfined(
  path: string,
  realRoot: string,
  expected?: FileIdentity,
): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    if (isNoSuchName(error)) return undefined;
    throw error;
  }
  const stat = fstatSync(fd, { bigint: true });
  const same = !expected || (stat.dev === expected.dev && stat.ino === expected.ino);
  if (same && (readlinkSync(`/proc/self/fd/${fd}`) === realRoot || landedInside(fd, realRoot)))
    return fd;
  closeSync(fd);
  return undefined;
}

/** Opens for reading the very file an O_PATH descriptor names (its /proc link is not a path walk). */
function openNamed(named: number): number {
  return openSync(`/proc/self/fd/${named}`, constants.O_RDONLY | constants.O_NONBLOCK);
}

/** Whether the file `fd` was opened at is inside `realRoot`, by the path the kernel has for it. */
function landedInside(fd: number, realRoot: string): boolean {
  const prefix = realRoot.endsWith("/") ? realRoot : `${realRoot}/`;
  return readlinkSync(`/proc/self/fd/${fd}`).startsWith(prefix);
}

/** The file at `path` as it is (a link as a link), or undefined when nothing is at that name. */
export function lstatIfThere(path: string) {
  try {
    return lstatSync(path, { bigint: true });
  } catch (error) {
    if (isNoSuchName(error)) return undefined;
    throw error;
  }
}

/**
 * Whether `error` says nothing is at a name: none there, a file where a directory is
 * named, a loop of links on the way (a directory the app swapped for one), or a name the
 * file system cannot hold (a database's own name at the longest leaves no room for `-wal`).
 */
export function isNoSuchName(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP" || code === "ENAMETOOLONG";
}
