/**
 * App data brought back by a disaster recovery, on a box that is not the device holding
 * the app: it is a copy of the holder's data as of its last backup, so it is kept as one
 * (this box's replica of the app), not as the app's data. When the holder is gone for
 * good, this box takes the app over from it as from any standby's copy, saying how much
 * could be missing (what was written after that backup); while the holder lives, the copy
 * simply follows it.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { ReplicaDb } from "./replica-db.ts";
import { takeSnapshot } from "./snapshot.ts";

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
