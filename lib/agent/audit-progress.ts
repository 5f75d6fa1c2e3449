/**
 * How far this device has published its agent audit (the highest entry id its batches
 * name), and the key below which none of its batches is left to delete. Each is found by a
 * walk of its keys in the state, which grows by up to a key a second while an agent is busy
 * and keeps every deleted batch as a tombstone for good: 500,000 of them took 80–175 ms a
 * walk, made at every call an agent made and every publication. So each is walked once,
 * then kept as this device publishes and deletes: only it writes those keys. Forgotten,
 * and walked again when next asked, when the state is replaced by a checkpoint, this
 * device's own changesets come back from a peer (its home put back from an older backup:
 * the state then holds batches it no longer remembers writing), or batches under its name
 * come from another device (an earlier one of its name, revoked, heard of late).
 */
import { and, eq, gte, lt, sql } from "drizzle-orm";
import { auditLogPrefix } from "../../protocol/agent-audit.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import type { ChangeListener } from "../node/node-context.ts";
import type { StateDb } from "../store/db.ts";
import { state } from "../store/schema.ts";

/** This device, as its audit batches name it. */
export interface AuditOwner {
  readonly db: StateDb;
  readonly deviceName: string;
  readonly deviceId: DeviceId;
}

/** When the state changes under the progress: as NodeContext tells it. */
export interface AuditProgressSignals {
  onChange(listener: ChangeListener): () => void;
  onRebase(listener: () => void): () => void;
}

export class AuditProgress {
  private upTo: number | undefined;
  private deletedBelow: string | undefined;

  constructor(
    private readonly owner: AuditOwner,
    signals?: AuditProgressSignals,
  ) {
    const forget = () => {
      this.upTo = undefined;
      this.deletedBelow = undefined;
    };
    signals?.onRebase(forget);
    const prefix = auditLogPrefix(owner.deviceName);
    signals?.onChange((changesets, origin) => {
      // Its own changesets back from a peer, or batches under its name it did not write (an
      // earlier device of its name, revoked, whose batches come late): walked again.
      if (
        origin === "remote" &&
        changesets.some(
          (c) => c.author === owner.deviceId || c.ops.some((op) => op.key.startsWith(prefix)),
        )
      )
        forget();
    });
  }

  /**
   * The highest entry id this device's batches name (deleted or not; the key's last 15
   * digits). Not the newest key's: keys sort by time, and with the clock set back the newest
   * would name fewer entries than were published, which would then be published again every
   * round. Nor of a batch another device of this name wrote (revoked, its name taken
   * again): its entries' ids were its own.
   */
  publishedUpTo(): number {
    if (this.upTo === undefined) {
      const { db, deviceName, deviceId } = this.owner;
      const prefix = auditLogPrefix(deviceName);
      this.upTo =
        db
          .select({ upTo: sql<number | null>`max(cast(substr(${state.key}, -15) as integer))` })
          .from(state)
          .where(
            and(gte(state.key, prefix), lt(state.key, `${prefix}\x7f`), eq(state.author, deviceId)),
          )
          .get()?.upTo ?? 0;
    }
    return this.upTo;
  }

  /** Where a search for batches left to delete starts: none of this device's is below it. */
  deletableFrom(): string {
    return this.deletedBelow ?? auditLogPrefix(this.owner.deviceName);
  }

  /** This device wrote `batches` (each its key, and the id of its last entry). */
  published(batches: readonly { readonly key: string; readonly lastId: number }[]): void {
    for (const { key, lastId } of batches) {
      if (this.upTo !== undefined) this.upTo = Math.max(this.upTo, lastId);
      // A clock set back writes a batch below where deleting had reached: it starts there.
      if (this.deletedBelow !== undefined && key < this.deletedBelow) this.deletedBelow = key;
    }
  }

  /** Every batch of this device's below `key` is deleted (or being, in the same changeset). */
  deletedUpTo(key: string): void {
    if (this.deletedBelow === undefined || key > this.deletedBelow) this.deletedBelow = key;
  }
}
