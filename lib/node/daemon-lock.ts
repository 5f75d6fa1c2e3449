/**
 * The one daemon of a home. A daemon holds an exclusive lock on `<home>/daemon.lock` for as
 * long as it runs (lib/file-lock.ts): the kernel lets it go when the process ends, however
 * it ends (a SIGKILL, a crash, a power cut), and never while it runs. Judged
 * by whether the daemon's socket answered within a second, a daemon that was only slow (its
 * loop blocked, the machine loaded, the process stopped) was taken for gone: its socket was
 * removed and a second daemon started beside it on the same zone state, both signing this
 * device's next changesets, which every peer takes for a fork (and quarantines the device).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BuckyError } from "../errors.ts";
import { type FileLock, takeFileLock } from "../file-lock.ts";

export const DAEMON_LOCK_FILE = "daemon.lock";
/**
 * How long taking the lock tries again while another process holds it. One that takes it
 * for a moment (another trying at once; a probe of daemonLockHeld) holds it for
 * microseconds; a daemon, an init or a repair holds it far longer, and is still refused.
 */
const LOCK_WAIT_MS = 250;

/** The lock of a daemon: let go when it stops, or its start failed. */
export type DaemonLock = FileLock;

/** Takes the lock of `home`'s daemon, or refuses: another daemon holds it. */
export function takeDaemonLock(home: string): DaemonLock {
  const lock = takeFileLock(join(home, DAEMON_LOCK_FILE), LOCK_WAIT_MS);
  if (lock) return lock;
  throw new BuckyError(
    "E_EXISTS",
    `a bucky daemon is already running for ${home} (or a repair, a restore or a join is at work in it)`,
    "See it with `bucky status` (a daemon that does not answer is busy or stopped: `bucky stop` ends it).",
  );
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
