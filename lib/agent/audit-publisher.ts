/**
 * Publishes this device's agent audit entries to the zone state on a timer (see
 * audit.ts): at most one changeset per interval, none when no agent called.
 */
import { isPassing } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { publishAudit } from "./audit.ts";

export const DEFAULT_AUDIT_INTERVAL_MS = 10_000;

export class AuditPublisher {
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly node: NodeContext,
    private readonly intervalMs: number,
    /** Told of anything unexpected: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.publish(), this.intervalMs);
  }

  /** Stops the timer, publishing what is left first (the sync loop is still running). */
  stop(): void {
    clearInterval(this.timer);
    this.publish();
  }

  private publish(): void {
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
