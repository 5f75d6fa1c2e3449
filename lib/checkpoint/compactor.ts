/**
 * The daemon's part in compacting the zone's history, on every device alike (nobody
 * coordinates):
 *
 * 1. Cuts are taken at times every device picks alike: multiples of a period, a horizon
 *    back (by default, a day's worth, a week back: the last week of history stays whole,
 *    so a revocation undoes anything the revoked device wrote in it).
 * 2. Each device computes the checkpoint at the newest cut from what it holds (on a read
 *    snapshot of its own, a few milliseconds at a time) and endorses it.
 * 3. A checkpoint more than half of the members in good standing endorse is agreed; a
 *    device that computes the same (its own, or checks another's) adopts it, prunes the
 *    changesets it supersedes (but for the evidence and each feed's last) and gives the
 *    space back to the disk.
 *
 * Devices that lack what it covers take it from a peer when they sync
 * (lib/checkpoint/transfer.ts).
 */
import { Database } from "bun:sqlite";
import { BuckyError, isPassing } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { runSliced } from "../sliced.ts";
import { isStateAltered } from "../state/altered.ts";
import type { CheckpointRecord } from "../state/checkpoint-record.ts";
import { pruneCovered } from "./adopt.ts";
import { type Candidate, candidateSteps, type Target } from "./candidate.ts";
import { adoptAgreed, type Compacting, endorseAt } from "./compaction.ts";
import { giveBackPages } from "./vacuum.ts";

export interface CompactionTimes {
  /** Only changesets older than this are checkpointed. */
  readonly horizonMs: number;
  /** Cuts are taken at multiples of this, so that every device picks the same. */
  readonly periodMs: number;
  /** How often the daemon looks. */
  readonly everyMs: number;
}

export const DEFAULT_COMPACTION: CompactionTimes = {
  horizonMs: 7 * 24 * 3_600_000,
  periodMs: 24 * 3_600_000,
  everyMs: 10 * 60_000,
};

/** The newest cut at `nowMs`: the latest multiple of the period a horizon back. */
export function cutAt(nowMs: number, times: Pick<CompactionTimes, "horizonMs" | "periodMs">) {
  return Math.floor((nowMs - times.horizonMs) / times.periodMs) * times.periodMs;
}

export class Compactor {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** This device's own checkpoint at the newest cut, as last computed. */
  private mine: Candidate | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly times: CompactionTimes,
    /** Told of a fault that is not damage or a full disk: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
    /** Told when a checkpoint was adopted (the history held shrank). */
    private readonly onAdopted: () => void = () => {},
  ) {}

  start(): void {
    const stopChanges = this.node.onChange((changesets) => {
      // A changeset from before the cut arriving late changes this device's checkpoint.
      const cut = this.mine?.checkpoint.cut;
      if (cut !== undefined && changesets.some((c) => c.hlc.ms <= cut)) this.mine = undefined;
      // Endorsements arriving may make a checkpoint agreed: look again at once.
      if (changesets.some((c) => c.ops.some((op) => /^nodes\/[^/]+\/checkpoint$/.test(op.key))))
        this.soon();
    });
    const stopRebases = this.node.onRebase(() => {
      this.mine = undefined;
    });
    this.unsubscribe = () => {
      stopChanges();
      stopRebases();
    };
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.timer);
    await this.running;
  }

  /** Looks again as soon as the current look is done. */
  soon(): void {
    if (this.stopped) return;
    if (this.running) this.again = true;
    else this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.run()
        .catch((error) => this.failed(error))
        .finally(() => {
          this.running = undefined;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 0 : this.times.everyMs);
        });
    }, delayMs);
  }

  private async run(): Promise<void> {
    const { node } = this;
    // Quarantined, this device proposes and adopts nothing: every peer refuses its writes.
    if (node.quarantined()) return;
    const { db, seal } = node.zone;
    // What an interrupted prune left (a cheap look when nothing is left).
    pruneCovered(db, seal);
    const compacting: Compacting = {
      db,
      seal,
      zone: node.zoneId,
      deviceName: node.deviceName,
      now: () => node.now(),
      membership: () => node.membership(),
      write: (ops) => {
        try {
          node.write(ops);
        } catch (error) {
          node.diskFull(error);
        }
      },
      compute: (held, target) => this.compute(held, target),
    };
    this.mine = await endorseAt(compacting, cutAt(node.now(), this.times), this.mine);
    if (this.stopped) return;
    const adopted = await adoptAgreed(compacting, this.mine);
    if (!adopted) return;
    this.mine = undefined;
    const { checkpoint } = adopted.candidate;
    node.log.info("checkpoint agreed", {
      checkpoint: checkpoint.id.slice(0, 12),
      cut: new Date(checkpoint.cut).toISOString(),
      keys: checkpoint.keys,
      endorsers: adopted.endorsers.join(","),
      pruned: adopted.pruned,
    });
    try {
      await giveBackPages(db.$client, node.log);
    } catch (error) {
      // Busy (a reader held on): the next compaction gives it back.
      if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
    }
    this.onAdopted();
  }

  /** Runs a computation on a read snapshot of its own, a slice at a time. */
  private async compute(
    held: CheckpointRecord | undefined,
    target: Target,
  ): Promise<Candidate | undefined> {
    const sqlite = new Database(this.node.zone.paths.stateDb, { readonly: true });
    const steps = candidateSteps(sqlite, this.node.zoneId, held, target);
    try {
      sqlite.run("BEGIN");
      return await runSliced(steps, () => this.stopped);
    } finally {
      if (sqlite.inTransaction) sqlite.run("COMMIT");
      sqlite.close();
    }
  }

  private failed(error: unknown): void {
    if (isStateAltered(error)) {
      this.node.damaged(error as BuckyError);
      return;
    }
    // A full disk, or the database held by another process: the next round tries again.
    if (isPassing(error)) {
      this.node.diskFull(error);
      return;
    }
    if (error instanceof BuckyError) {
      this.node.log.warn("compaction failed; it is tried again later", { error: error.message });
      return;
    }
    this.node.log.fatal("unexpected error while compacting the zone's history", {
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    this.onBug(error);
  }
}
