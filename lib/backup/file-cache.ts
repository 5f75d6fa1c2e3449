/**
 * What the last backup to a repository read, file by file: size, times, inode and the
 * chunk ids. A file that still matches is not read again. Kept per repository in
 * `<home>/backup/cache/<repository id>/files.db`; the new run's facts replace the old
 * ones only once its snapshot is written, so a failed run leaves the cache as it was.
 *
 * Two backups of a home to one repository may run at once (lock.ts); each holds the
 * cache's write lock from just before it files its snapshot until its facts are in. One
 * paused there (SIGSTOP, a laptop asleep) would hold it for good: the other then stops
 * before filing its snapshot, naming it (cache-holder.ts), rather than failing on SQLite's
 * "database is locked" after a long wait.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { isBusy } from "../errors.ts";
import {
  type CacheHolder,
  cacheHeldError,
  forgetCacheHolder,
  isPaused,
  readCacheHolder,
  writeCacheHolder,
} from "./cache-holder.ts";

export interface FileFacts {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly inode: string;
  /** When they were read (ms, this clock), if known: what a racy change is judged from. */
  readonly seenAtMs?: number;
}

function openCache(path: string): Database {
  const db = new Database(path, { create: true });
  try {
    // Short: hold() waits in steps, looking between them at who holds the cache.
    db.run(`PRAGMA busy_timeout = ${HOLD_STEP_MS}`);
    db.run("PRAGMA journal_mode = WAL");
    db.run(
      "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns TEXT, ctime_ns TEXT, inode TEXT, content TEXT) WITHOUT ROWID",
    );
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * How close to now a file's last change is too close to take it as unchanged the next time
 * its times match: a write right after the file was read, within the file system clock's
 * tick (a few ms on kernels before 6.13), leaves its size and times as they were, and
 * the cache said the file unchanged, its new bytes never read, at every run after. (Git's
 * "racy clean" files, and its answer.)
 */
const RACY_NS = 2_000_000_000n;

/**
 * Whether `facts` were changed within RACY_NS before `nowMs` (or after it): judged from
 * when they were read, not when the file's chunks were all stored, which for a large file
 * comes long after a write in the same tick as its last look.
 */
export function racy(facts: FileFacts, nowMs: number): boolean {
  const newest = BigInt(facts.mtimeNs) > BigInt(facts.ctimeNs) ? facts.mtimeNs : facts.ctimeNs;
  return BigInt(nowMs) * 1_000_000n - BigInt(newest) < RACY_NS;
}

/** How long hold() waits for another run's commit (a running one's takes well under this). */
const HOLD_WAIT_MS = 30_000;
const HOLD_STEP_MS = 200;

export class FileCache {
  private readonly db: Database;
  private readonly seen: [string, FileFacts, readonly string[]][] = [];
  private held = false;

  constructor(
    private readonly dir: string,
    /** What uses it, said to another run that finds it held (CacheHolder). */
    private readonly user: Omit<CacheHolder, "pid">,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, "files.db");
    try {
      this.db = openCache(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== "SQLITE_NOTADB" && code !== "SQLITE_CORRUPT") throw error;
      // Only a cache: a damaged one is started afresh (the next run reads every file).
      for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
      this.db = openCache(path);
    }
  }

  /** The chunk ids of `path` if it is unchanged since the last run. */
  lookup(path: string, facts: FileFacts): string[] | undefined {
    const row = this.db
      .query<
        { size: number; mtime_ns: string; ctime_ns: string; inode: string; content: string },
        [string]
      >("SELECT size, mtime_ns, ctime_ns, inode, content FROM files WHERE path = ?")
      .get(path);
    if (
      !row ||
      row.size !== facts.size ||
      row.mtime_ns !== facts.mtimeNs ||
      row.ctime_ns !== facts.ctimeNs ||
      row.inode !== facts.inode
    )
      return undefined;
    return JSON.parse(row.content) as string[];
  }

  /**
   * Records what this run found, for commit(): unless the file changed too lately to tell
   * (racy), which the next run reads again.
   */
  keep(path: string, facts: FileFacts, content: readonly string[]): void {
    if (racy(facts, facts.seenAtMs ?? Date.now())) return;
    this.seen.push([path, facts, content]);
  }

  /**
   * Takes the cache's write lock for commit(), before the run files its snapshot: waits
   * while another backup of this home commits, and throws E_UNAVAILABLE, naming that
   * backup, if it is paused there or holds on past HOLD_WAIT_MS.
   */
  hold(): void {
    const deadline = Date.now() + HOLD_WAIT_MS;
    for (;;) {
      try {
        this.db.run("BEGIN IMMEDIATE");
        break;
      } catch (error) {
        if (!isBusy(error)) throw error;
        const holder = readCacheHolder(this.dir);
        if (holder && (isPaused(holder.pid) || Date.now() >= deadline))
          throw cacheHeldError(holder, isPaused(holder.pid), error);
        if (Date.now() >= deadline) throw error;
      }
    }
    this.held = true;
    writeCacheHolder(this.dir, { ...this.user, pid: process.pid });
  }

  /** Replaces the cache with what this run found (its snapshot is written), holding it. */
  commit(): void {
    if (!this.held) this.hold();
    const insert = this.db.prepare(
      "INSERT OR REPLACE INTO files (path, size, mtime_ns, ctime_ns, inode, content) VALUES (?, ?, ?, ?, ?, ?)",
    );
    try {
      this.db.run("DELETE FROM files");
      for (const [path, facts, content] of this.seen)
        insert.run(
          path,
          facts.size,
          facts.mtimeNs,
          facts.ctimeNs,
          facts.inode,
          JSON.stringify(content),
        );
      // Forgotten while still held: another run may write its own the moment it is let go.
      forgetCacheHolder(this.dir);
      this.db.run("COMMIT");
      this.held = false;
    } finally {
      insert.finalize();
    }
  }

  /** Closes it; a hold not committed (the run failed) is let go, the cache as it was. */
  close(): void {
    if (this.held) {
      forgetCacheHolder(this.dir);
      this.db.run("ROLLBACK");
      this.held = false;
    }
    this.db.close();
  }
}
