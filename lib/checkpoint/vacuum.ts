/**
 * Giving the disk back what pruning freed. A database made since checkpoints exist gives
 * free pages back as it goes (incremental vacuum), a few thousand pages at a time with the
 * event loop turning between (a long history freed at once took the daemon's thread for
 * about a second per 250 MB); an older one is rewritten once, by a VACUUM that also
 * switches it over, when at least a quarter of it is free. That one is a single statement
 * holding the write lock: it cannot be cut, and on another thread it would hold the
 * daemon's next write waiting on the lock as long.
 */
import type { Database } from "bun:sqlite";
import type { Log } from "../log.ts";

const WORTH_SAYING_BYTES = 1024 * 1024;
/** Pages given back per step of an incremental vacuum (2 MB of 4 KiB pages: some ms). */
const PAGES_PER_STEP = 500;

export interface Vacuumed {
  readonly beforeBytes: number;
  readonly afterBytes: number;
}

export async function giveBackPages(sqlite: Database, log: Log): Promise<Vacuumed | undefined> {
  const pragma = (name: string) =>
    Object.values(sqlite.query(`PRAGMA ${name}`).get() as Record<string, number>)[0] as number;
  const pageSize = pragma("page_size");
  const free = pragma("freelist_count");
  const beforeBytes = pragma("page_count") * pageSize;
  if (free === 0) return undefined;
  const startMs = performance.now();
  if (pragma("auto_vacuum") === 2) {
    for (let left = free; left > 0; left -= PAGES_PER_STEP) {
      sqlite.run(`PRAGMA incremental_vacuum(${PAGES_PER_STEP})`);
      // Timers and I/O run between steps (a resolved promise would run before them).
      await new Promise((resolve) => setImmediate(resolve));
    }
  } else {
    if (free * 4 < pragma("page_count")) return undefined;
    sqlite.run("PRAGMA auto_vacuum = INCREMENTAL");
    sqlite.run("VACUUM");
  }
  // Folded into the database file when no reader holds an older snapshot (never waiting).
  sqlite.run("PRAGMA wal_checkpoint(PASSIVE)");
  const afterBytes = pragma("page_count") * pageSize;
  // Said when it is worth saying (a compaction of years, not of an hour's endorsements).
  const said = beforeBytes - afterBytes >= WORTH_SAYING_BYTES ? log.info : log.debug;
  said("state database gave back the space compaction freed", {
    beforeBytes,
    afterBytes,
    ms: Math.round(performance.now() - startMs),
  });
  return { beforeBytes, afterBytes };
}
