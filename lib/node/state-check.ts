/**
 * The daemon's full verification of its zone state (lib/state/verify.ts): as it starts,
 * then every hour, on a read connection of its own that holds one snapshot, a few
 * milliseconds at a time so the daemon keeps serving meanwhile. Whatever it finds is kept
 * in the seal (so `bucky status` says it, and the daemon will not start again until the
 * state is mended) and stops the daemon: it must not serve, sync or run apps from a
 * state someone altered.
 */
import { Database } from "bun:sqlite";
import { BuckyError, isDiskFull, sqliteError } from "../errors.ts";
import { recordDamage, recordVerified } from "../state/integrity.ts";
import { type Verdict, verifySteps } from "../state/verify.ts";
import type { NodeContext } from "./node-context.ts";

export const DEFAULT_STATE_CHECK_EVERY_MS = 3_600_000;
/** How long one slice of the check runs before the daemon gets its turn. */
const SLICE_MS = 10;

export class StateCheck {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly node: NodeContext,
    private readonly everyMs: number,
    /** Told of a fault that is not damage to the state: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
  ) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.run()
        .catch((error) => {
          // A database SQLite finds corrupt is damage like any other; a full disk waits.
          const damaged = sqliteError(error, `the state database ${this.node.zone.paths.stateDb}`);
          if (damaged?.code === "E_INTEGRITY") return this.node.damaged(damaged);
          if (!isDiskFull(error))
            this.node.log.fatal("unexpected error while verifying the zone state", {
              error: error instanceof Error ? (error.stack ?? error.message) : String(error),
            });
          this.onBug(error);
        })
        .finally(() => {
          this.running = undefined;
          this.schedule(this.everyMs);
        });
    }, delayMs);
  }

  private async run(): Promise<void> {
    const { node } = this;
    const startedAt = node.now();
    const startedMs = performance.now();
    const verdict = await this.verify();
    if (!verdict) return;
    const sqlite = node.db.$client;
    if (verdict.problemCount > 0) {
      node.damaged(recordDamage(sqlite, node.zone.seal, verdict, node.log));
      return;
    }
    try {
      recordVerified(sqlite, node.zone.seal, startedAt);
    } catch (error) {
      if (error instanceof BuckyError && error.code === "E_INTEGRITY") {
        // Its seal changed under the check: damage the next check names, if not this one.
        node.damaged(error);
        return;
      }
      node.diskFull(error);
      return;
    }
    node.log.info("zone state verified", {
      changesets: verdict.tables.changesetRows,
      keys: verdict.tables.stateRows,
      ms: Math.round(performance.now() - startedMs),
    });
  }

  /** The verdict on one snapshot of the state, or undefined when stopped half way. */
  private async verify(): Promise<Verdict | undefined> {
    const sqlite = new Database(this.node.zone.paths.stateDb, { readonly: true });
    const steps = verifySteps(sqlite, this.node.zone.seal, this.node.zoneId);
    try {
      sqlite.run("BEGIN");
      let sliceStart = performance.now();
      for (;;) {
        const step = steps.next();
        if (step.done) return step.value;
        if (this.stopped) return undefined;
        if (performance.now() - sliceStart > SLICE_MS) {
          await new Promise((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
      }
    } finally {
      steps.return(undefined as never);
      if (sqlite.inTransaction) sqlite.run("COMMIT");
      sqlite.close();
    }
  }
}
