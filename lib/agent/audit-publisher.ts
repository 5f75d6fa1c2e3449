/**
 * Publishes this device's agent audit entries to the zone state (see audit.ts): soon, at
 * most one changeset a second, for every call recorded: one that changed something, whose
 * entry must be in the zone state before the agent is answered (lost with this device, the
 * change would stay and nobody could say which agent made it), and a read or a refusal,
 * not waited for, so that a device killed a second later has lost none (its cost:
 * docs/performance.md). And on a timer, none when no agent called: what is left, and the
 * batches past the retention.
 */
import { isPassing } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { type AuditWriter, publishAudit } from "./audit.ts";

export const DEFAULT_AUDIT_INTERVAL_MS = 10_000;
/**
 * The least time between two publications asked for soon: an agent changing things as
 * fast as it may still makes at most one changeset a second.
 */
export const AUDIT_SOON_GAP_MS = 1_000;

export class AuditPublisher {
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastMs = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private soon: { readonly written: Promise<void>; readonly write: () => void } | undefined;

  constructor(
    private readonly node: AuditWriter & Pick<NodeContext, "diskFull">,
    private readonly intervalMs: number,
    /** Told of anything unexpected: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.publish(), this.intervalMs);
  }

  /**
   * Publishes what is recorded so far: now, or AUDIT_SOON_GAP_MS after the last
   * publication; the calls that ask meanwhile share that one. Settles once it is written.
   */
  publishSoon(): Promise<void> {
    // Stopping published everything; the node is closing.
    if (this.stopped) return Promise.resolve();
    if (!this.soon) {
      let written = () => {};
      const promise = new Promise<void>((resolve) => {
        written = resolve;
      });
      // Within the gap whatever the clock did (set back an hour, it would wait the hour).
      const waitMs = Math.min(
        AUDIT_SOON_GAP_MS,
        Math.max(0, this.lastMs + AUDIT_SOON_GAP_MS - this.node.now()),
      );
      const timer = setTimeout(() => this.publishWaiting(), waitMs);
      this.soon = {
        written: promise,
        write: () => {
          clearTimeout(timer);
          this.publish();
          written();
        },
      };
    }
    return this.soon.written;
  }

  /** Stops the timer, publishing what is left first (the sync loop is still running). */
  stop(): void {
    clearInterval(this.timer);
    this.stopped = true;
    if (this.soon) this.publishWaiting();
    else this.publish();
  }

  private publishWaiting(): void {
    const soon = this.soon;
    this.soon = undefined;
    soon?.write();
  }

  private publish(): void {
    this.lastMs = this.node.now();
    try {
      publishAudit(this.node);
    } catch (error) {
      // A full disk, or the database held by another process, waits like every other
      // write; anything else is a bug.
      if (isPassing(error)) this.node.diskFull(error);
      else this.onBug(error);
    }
  }
}
