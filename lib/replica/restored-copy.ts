/**
 * App data brought back by a disaster recovery, on a box that is not the device holding
 * the app: it is a copy of the holder's data as of its last backup, so it is kept as one
 * (this box's replica of the app), not as the app's data. When the holder is gone for
 * good, this box takes the app over from it as from any standby's copy, saying how much
 * could be missing (what was written after that backup); while the holder lives, the copy
 * simply follows it.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { ReplicaDb } from "./replica-db.ts";
import { takeSnapshot } from "./snapshot.ts";

const RESTORED_HELD = "restored-held.json";

/**
 * App data a home restore brought back on the device holding the app: its data as of the
 * backup, while a standby may have held newer when the device was lost. Marked in the
 * app's directory, so that the device, holding it again, begins a new epoch from it that
 * says when the data is from (lib/replica/replication.ts): a standby whose copy is newer
 * keeps that copy as a conflict copy, rather than have it replaced unseen by the restored
 * data's snapshots, numbered from 1 again in the epoch it already held.
 */
export function markRestoredHeld(appDir: string, takenAtMs: number): void {
  writeFileAtomic(join(appDir, RESTORED_HELD), `${JSON.stringify({ takenAtMs })}\n`, 0o600);
}

/** When the backup a restored holder's data came from was taken, if it is marked so. */
export function restoredHeldAt(appDir: string): number | undefined {
  const path = join(appDir, RESTORED_HELD);
  if (!existsSync(path)) return undefined;
  try {
    const { takenAtMs } = JSON.parse(readFileSync(path, "utf8")) as { takenAtMs?: unknown };
    if (Number.isSafeInteger(takenAtMs) && (takenAtMs as number) >= 0) return takenAtMs as number;
  } catch {
    // Unreadable: still a restored holder's, from a backup of no known time (0).
  }
  return 0;
}

/** The mark gone, once the device holds the restored data in an epoch of its own. */
export function clearRestoredHeld(appDir: string): void {
  rmSync(join(appDir, RESTORED_HELD), { force: true });
}

export async function keepRestoredAsCopy(options: {
  readonly app: string;
  readonly dataDir: string;
  /** The app's replica directory in the home being restored. */
  readonly replicaDir: string;
  /** The holder and its epoch, by the restored zone state. */
  readonly holder: string;
  readonly epoch: number;
  /** When the backup the data came from was taken (ms). */
  readonly takenAtMs: number;
}): Promise<void> {
  const db = new ReplicaDb(join(options.replicaDir, "replica.db"));
  try {
    const head = await takeSnapshot({
      db,
      dataDir: options.dataDir,
      cacheDir: join(options.replicaDir, "cache"),
      head: {
        app: options.app,
        epoch: options.epoch,
        seq: 0,
        holder: options.holder,
        at: options.takenAtMs,
        final: false,
      },
    });
    db.setHead(head);
  } finally {
    db.close();
  }
  rmSync(options.dataDir, { recursive: true, force: true });
}
