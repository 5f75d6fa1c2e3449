/**
 * An exclusive lock between processes, held as SQLite's own file lock (fcntl) on an empty
 * database file: the kernel lets it go when its process ends, however it ends (a SIGKILL,
 * a crash, a power cut), so a holder that died never leaves it to be cleared by hand, and
 * it is never let go while its process runs. Nothing is ever written to the file.
 */
import { Database } from "bun:sqlite";

export interface FileLock {
  /** Lets the lock go. */
  release(): void;
}

const RETRY_MS = 10;

/**
 * Takes the lock on `path`, trying again while another process holds it, for up to
 * `waitMs`; undefined when it still does then.
 */
export function takeFileLock(path: string, waitMs: number): FileLock | undefined {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const db = tryLock(path);
    if (db) return { release: () => db.close() };
    if (performance.now() >= deadline) return undefined;
    Bun.sleepSync(RETRY_MS);
  }
}

/**
 * One try at the lock: its connection, holding it, or undefined when another holds it.
 * A try that fails lets go of all it took: two at once each holding the file shared while
 * asking for it whole are told busy at once by SQLite (neither could go on), and both were
 * refused, though neither held the lock.
 */
function tryLock(path: string): Database | undefined {
  const db = new Database(path, { create: true });
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
