/**
 * Whether another process is writing a SQLite database's file now, told by the locks SQLite
 * takes on it (sqlite.org/lockingv3.html; the unix VFS's byte ranges) as the kernel lists
 * them in /proc/locks, without taking one: a backup must not make an app's writes wait.
 *
 * A writer takes an EXCLUSIVE lock (a write lock on the shared range, after one on the
 * pending byte) before it puts a page in the file, and holds it until its transaction
 * ends. Most journal modes leave a trace of a transaction part way (a hot journal, a log),
 * but with `journal_mode=MEMORY` or `OFF` a transaction larger than the page cache spills
 * its pages into the file with none: the file is then half a transaction, with the old
 * change counter, and only the lock says so. A RESERVED lock alone (a write transaction
 * begun, nothing in the file yet) is not a write.
 */
import { fstatSync, readFileSync } from "node:fs";

/** The unix VFS's lock bytes (os_unix.c): the pending byte, then reserved, then the shared range. */
const PENDING_BYTE = 0x4000_0000;
const SHARED_FIRST = PENDING_BYTE + 2;
const SHARED_SIZE = 510;

/**
 * Asks, each time it is called, whether some process holds a write lock of a writer part
 * way on the file open at `fd`; the name the kernel lists the file by is found once.
 */
export function writerWatch(fd: number): () => boolean {
  const { dev, ino } = fstatSync(fd, { bigint: true });
  const file = `${lockedDevice(fd) ?? `${hex(major(dev))}:${hex(minor(dev))}`}:${ino}`;
  return () => writerLockListed(readLocks(), file);
}

/** Whether `locks` (/proc/locks) lists a writer's lock part way on `file` (`dev:ino`). */
function writerLockListed(locks: string, file: string): boolean {
  return locks.split("\n").some((line) => {
    // `1: POSIX  ADVISORY  WRITE 4242 08:01:1234567 1073741824 1073741824`; a lock waiting
    // for another is listed after `->`, and holds nothing yet. Only this file's lines are
    // split (an app may hold very many locks of its own).
    if (!line.includes(` ${file} `)) return false;
    const fields = line.trim().split(/\s+/);
    if (fields[1] === "->" || fields[3] !== "WRITE" || fields[5] !== file) return false;
    const start = Number(fields[6]);
    const end = fields[7] === "EOF" ? Number.POSITIVE_INFINITY : Number(fields[7]);
    const overlaps = (first: number, last: number) => start <= last && end >= first;
    return (
      overlaps(PENDING_BYTE, PENDING_BYTE) || overlaps(SHARED_FIRST, SHARED_FIRST + SHARED_SIZE - 1)
    );
  });
}

/**
 * The device /proc/locks names the file open at `fd` by: its file system's (its mount's
 * major:minor in /proc/self/mountinfo), which is not always the file's own st_dev: a btrfs
 * subvolume's files have a device of their own, and an overlay's may; matched by st_dev
 * there, no lock was ever found. Undefined when /proc does not say.
 */
function lockedDevice(fd: number): string | undefined {
  try {
    const mount = /^mnt_id:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))?.[1];
    const line = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith(`${mount} `));
    const [majorText, minorText] = (line?.split(" ")[2] ?? "").split(":");
    if (mount === undefined || majorText === undefined || minorText === undefined) return undefined;
    return `${hex(BigInt(majorText))}:${hex(BigInt(minorText))}`;
  } catch {
    return undefined;
  }
}

function readLocks(): string {
  try {
    return readFileSync("/proc/locks", "utf8");
  } catch {
    // Without /proc (not Linux), nothing is known to be part way: the other checks stand.
    return "";
  }
}

/** Linux's dev_t split as the kernel prints it (fs/locks.c: MAJOR and MINOR, two hex digits at least). */
function major(dev: bigint): bigint {
  return ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
}

function minor(dev: bigint): bigint {
  return (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
}

function hex(n: bigint): string {
  return n.toString(16).padStart(2, "0");
}
