/**
 * Hears each backup, verify and prune record what it did (status.ts): a command runs each
 * in a process of its own, and the daemon, which says this device's facts to the zone,
 * would read it only at its next look, seconds on. A box backed up and switched off in
 * between was said by every other device to have no backup at all.
 */
import { type FSWatcher, mkdirSync, watch } from "node:fs";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";

/** Calls `changed` when `<home>/backup/status.json` is written; returns how to stop. */
export function watchBackupStatus(paths: HomePaths, changed: () => void, log: Log): () => void {
  let watcher: FSWatcher;
  try {
    mkdirSync(paths.backupDir, { recursive: true, mode: 0o700 });
    // The file is replaced by a rename (writeFileAtomic): its directory is watched.
    watcher = watch(paths.backupDir, (_event, name) => {
      if (name === "status.json") changed();
    });
  } catch (error) {
    // Heard at the next look all the same.
    log.warn("cannot watch for backups run by commands; they are said within seconds", {
      error: error instanceof Error ? error.message : String(error),
    });
    return () => {};
  }
  watcher.on("error", () => watcher.close());
  return () => watcher.close();
}
