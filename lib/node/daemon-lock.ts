/**
 * The one daemon of a home. A daemon holds an exclusive lock on `<home>/daemon.lock` for as
 * long as it runs: SQLite's own file lock (fcntl), which the kernel lets go when the process
 * ends, however it ends (a SIGKILL, a crash, a power cut), and never while it runs. Judged
 * by whether the daemon's socket answered within a second, a daemon that was only slow (its
 * loop blocked, the machine loaded, the process stopped) was taken for gone: its socket was
 * removed and a second daemon started beside it on the same zone state, both signing this
 * device's next changesets, which every peer takes for a fork (and quarantines the device).
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";

export const DAEMON_LOCK_FILE = "daemon.lock";
/**
 * How long taking the lock tries again while another process holds it. One that takes it
 * for a moment (another trying at once; a probe of daemonLockHeld) holds it for
 * microseconds; a daemon, an init or a repair holds it far longer, and is still refused.
 */
const LOCK_WAIT_MS = 250;
const LOCK_RETRY_MS = 10;

export interface DaemonLock {
  /** Lets the lock go (the daemon stopped, or its start failed). */
  release(): void;
}

/** Takes the lock of `home`'s daemon, or refuses: another daemon holds it. */
export function takeDaemonLock(home: string): DaemonLock {
  const deadline = performance.now() + LOCK_WAIT_MS;
  for (;;) {
    const db = tryLock(home);
    if (db) return { release: () => db.close() };
    if (performance.now() >= deadline)
      throw new BuckyError(
        "E_EXISTS",
        `a bucky daemon is already running for ${home} (or a repair, a restore or a join is at work in it)`,
        "See it with `bucky status` (a daemon that does not answer is busy or stopped: `bucky stop` ends it).",
      );
    Bun.sleepSync(LOCK_RETRY_MS);
  }
}

/**
 * One try at the lock: its connection, holding it, or undefined when another holds it.
 * A try that fails lets go of all it took: two at once each holding the file shared while
 * asking for it whole are told busy at once by SQLite (neither could go on), and both were
 * refused, though neither held the lock.
 */
function tryLock(home: string): Database | undefined {
  const db = new Database(join(home, DAEMON_LOCK_FILE), { create: true });
  try {
    db.run("PRAGMA busy_timeout = 0");
    // Nothing is ever written: no journal file beside it either.
    db.run("PRAGMA journal_mode = MEMORY");
    // Held past the transaction's end too, until the connection closes.
    db.run("PRAGMA locking_mode = EXCLUSIVE");
    db.run("BEGIN EXCLUSIVE");
    return db;
  } catch (error) {
    db.close();
    if ((error as { code?: string }).code?.startsWith("SQLITE_BUSY")) return undefined;
    throw error;
  }
}

/** Whether a process holds `home`'s daemon lock (a daemon, or an init, repair or restore). */
export function daemonLockHeld(home: string): boolean {
  if (!existsSync(join(home, DAEMON_LOCK_FILE))) return false;
  try {
    takeDaemonLock(home).release();
    return false;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_EXISTS") return true;
    throw error;
  }
}

/**
 * Runs `work` holding `home`'s daemon lock: what may not be done under a running daemon
 * (`what`: a repair, a restore of the home), refused while one runs, answering or not, and
 * no daemon starts meanwhile (systemd's restart, a `bucky up`). A home not made yet has none.
 */
export async function withoutDaemon<T>(
  home: string,
  what: string,
  hint: string,
  work: () => Promise<T>,
): Promise<T> {
  if (!existsSync(home)) return await work();
  let lock: DaemonLock;
  try {
    lock = takeDaemonLock(home);
  } catch (error) {
    if (!(error instanceof BuckyError && error.code === "E_EXISTS")) throw error;
    throw new BuckyError("E_UNAVAILABLE", `the daemon is running: ${what}`, hint, {
      cause: error,
    });
  }
  try {
    return await work();
  } finally {
    lock.release();
  }
}
