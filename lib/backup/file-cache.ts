/**
 * What the last backup to a repository read, file by file: size, times, inode and the
 * chunk ids. A file that still matches is not read again. Kept per repository in
 * `<home>/backup/cache/<repository id>/files.db`; the new run's facts replace the old
 * ones only once its snapshot is written, so a failed run leaves the cache as it was.
 */
import { Database } from "bun:sqlite";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface FileFacts {
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly inode: string;
}

function openCache(path: string): Database {
  const db = new Database(path, { create: true });
  try {
    // Two backups of this home to one repository may run at once (lock.ts): the second to
    // finish waits for the first's commit rather than failing on it.
    db.run("PRAGMA busy_timeout = 30000");
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

export class FileCache {
  private readonly db: Database;
  private readonly seen: [string, FileFacts, readonly string[]][] = [];

  constructor(dir: string) {
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

  /** Records what this run found, for commit(). */
  keep(path: string, facts: FileFacts, content: readonly string[]): void {
    this.seen.push([path, facts, content]);
  }

  /** Replaces the cache with what this run found (its snapshot is written). */
  commit(): void {
    const insert = this.db.prepare(
      "INSERT OR REPLACE INTO files (path, size, mtime_ns, ctime_ns, inode, content) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
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
    })();
    insert.finalize();
  }

  close(): void {
    this.db.close();
  }
}
