/**
 * A consistent image of a SQLite database while others write it. `serialize()` of a file
 * database copies the file alone, without what its write-ahead log holds (every commit
 * since the last checkpoint, minutes of writes for a busy app), so it is not used: the
 * image is made with `VACUUM INTO`, which reads one transaction's view through SQLite,
 * log included, into a fresh file (in rollback-journal mode, as a standalone copy should
 * be). The copy is compact, so its pages need not sit where the original's do.
 */
import { constants, Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";

/** The database at `path` as one transaction sees it; undefined when SQLite cannot read it. */
export function sqliteImage(path: string, scratchDir: string): Uint8Array | undefined {
  let db: Database | undefined;
  mkdirSync(scratchDir, { recursive: true, mode: 0o700 });
  const copy = join(scratchDir, `sqlite-image-${randomBytes(8).toString("hex")}.db`);
  try {
    // Never through a symbolic link: the caller checked the file it names.
    db = new Database(path, constants.SQLITE_OPEN_READONLY | constants.SQLITE_OPEN_NOFOLLOW);
    db.run("PRAGMA busy_timeout = 5000");
    db.query("VACUUM INTO ?1").run(copy);
    return new Uint8Array(readFileSync(copy));
  } catch {
    return undefined;
  } finally {
    db?.close();
    rmSync(copy, { force: true });
  }
}
