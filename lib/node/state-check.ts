/**
 * The running daemon's checks of its zone state, on a read connection of its own that
 * holds one snapshot, a few milliseconds at a time so the daemon keeps serving meanwhile:
 *
 * - every ten minutes, every row against the seal (what an edit made without the device
 *   key cannot pass: about 3 s of reading for a million changesets);
 * - once a day, and as it starts when the last was longer ago, a full verification
 *   (lib/state/verify.ts: every signature, every chain, the state against its changesets:
 *   about a minute for a million changesets).
 *
 * Whatever they find is kept in the seal (so `bucky status` says it, and the daemon will
 * not start again until the state is mended) and stops the daemon: it must not serve,
 * sync or run apps from a state someone altered.
 */
import { Database } from "bun:sqlite";
import type { SealFields } from "../../protocol/state-seal.ts";
import { BuckyError, isPassing, sqliteError } from "../errors.ts";
import { runSliced } from "../sliced.ts";
import { recordDamage, recordVerified, tablesMatchSteps } from "../state/integrity.ts";
import { stateAltered } from "../state/seal.ts";
import { type Verdict, verifySteps } from "../state/verify.ts";
import type { NodeContext } from "./node-context.ts";

export const DEFAULT_STATE_CHECK_EVERY_MS = 10 * 60_000;
export const DEFAULT_STATE_VERIFY_EVERY_MS = 24 * 3_600_000;

export interface StateCheckTimes {
  /** How often every row is checked against the seal. */
  readonly everyMs: number;
  /** How often the state is verified in full. */
  readonly verifyEveryMs: number;
}

export class StateCheck {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly node: NodeContext,
    private readonly times: StateCheckTimes,
    /** Told of a fault that is not damage to the state: the daemon crashes. */
    private readonly onBug: (error: unknown) => void,
  ) {}

  /** Starts the checks; every row was checked as the zone was opened, so the first is a verification, if one is due. */
  start(): void {
    this.schedule(0, false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number, checkRows: boolean): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.run(checkRows)
        .catch((error) => this.failed(error))
        .finally(() => {
          this.running = undefined;
          this.schedule(this.times.everyMs, true);
        });
    }, delayMs);
  }

  private async run(checkRows: boolean): Promise<void> {
    const { node } = this;
    const { seal } = node.zone;
    const startedAt = node.now();
    const startedMs = performance.now();
    const sqlite = new Database(node.zone.paths.stateDb, { readonly: true });
    let verdict: Verdict | undefined;
    let missing = false;
    try {
      // One snapshot for everything this run reads.
      sqlite.run("BEGIN");
      let record: SealFields | undefined;
      try {
        record = seal.read(sqlite);
        // The daemon opened it sealed: gone now, it was removed.
        if (!record) missing = true;
      } catch (error) {
        if (!(error instanceof BuckyError && error.code === "E_INTEGRITY")) throw error;
      }
      if (record?.damage) {
        // Recorded by a command that opened the zone meanwhile.
        node.damaged(stateAltered(sqlite.filename, record.damage));
        return;
      }
      const verifiedAt = record?.verifiedAt ?? null;
      const verifyDue = verifiedAt === null || startedAt - verifiedAt >= this.times.verifyEveryMs;
      if (record && !verifyDue) {
        if (!checkRows) return;
        const matches = await runSliced(
          tablesMatchSteps(sqlite, seal, record, true),
          () => this.stopped,
        );
        if (matches !== false) return;
      }
      // A verification due, or rows that do not match the seal (it names what is wrong).
      verdict = await runSliced(verifySteps(sqlite, seal, node.zoneId), () => this.stopped);
    } finally {
      if (sqlite.inTransaction) sqlite.run("COMMIT");
      sqlite.close();
    }
    if (!verdict) return;
    const main = node.db.$client;
    if (missing && verdict.problemCount === 0)
      verdict = { ...verdict, problems: ["its seal is missing"], problemCount: 1 };
    if (verdict.problemCount > 0) {
      node.damaged(recordDamage(main, seal, verdict, node.log));
      return;
    }
    recordVerified(main, seal, startedAt);
    node.log.info("zone state verified", {
      changesets: verdict.tables.changesetRows,
      keys: verdict.tables.stateRows,
      ms: Math.round(performance.now() - startedMs),
    });
  }

  /**
   * A check that failed: a database SQLite finds corrupt is damage like any other, a full
   * disk or a database another process holds is waited out; anything else is a bug.
   */
  private failed(error: unknown): void {
    const { node } = this;
    const damaged =
      error instanceof BuckyError
        ? error
        : sqliteError(error, `the state database ${node.zone.paths.stateDb}`);
    if (damaged?.code === "E_INTEGRITY") {
      node.damaged(damaged);
      return;
    }
    // A full disk, or the database held by another process: the next check tries again.
    if (isPassing(error)) {
      this.node.diskFull(error);
      return;
    }
    node.log.fatal("unexpected error while checking the zone state", {
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    this.onBug(error);
  }
}
