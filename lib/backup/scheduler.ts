/**
 * Backups on a schedule, run by the daemon: for each target of the zone, a backup every
 * hour, and every day a verify that reads back a sample of the data; and on the device
 * that reaches the target, a prune by the retention policy (which also clears the hot
 * changesets the snapshots now hold). Each runs as its own `bucky backup …` process, so a
 * long backup never slows the node, and records its result in the backup status like one
 * run by hand. A backup still running when the next is due means data grows faster than
 * it uploads: that is recorded, for a warning. A target that cannot be reached now (its
 * disk unplugged, its via device off) is tried again an interval later. A target another
 * backup of this device is running to (by hand, even paused) is left to it, and looked at
 * again at the next tick: that run is no failure of the target.
 */
import type { Subprocess } from "bun";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { Log } from "../log.ts";
import { progressFileOf, readProgress, type WorkProgress } from "./progress-file.ts";
import { heldBackupRun } from "./run-lock.ts";
import { readBackupStatus, updateTargetStatus } from "./status.ts";
import type { ResolvedTarget } from "./zone-targets.ts";

export const DEFAULT_BACKUP_EVERY_MS = 60 * 60 * 1000;
export const DEFAULT_VERIFY_EVERY_MS = 24 * 60 * 60 * 1000;
const VERIFY_SAMPLE = "5%";

/** What runs for a target now, and how far it has come. */
export interface RunningWork {
  readonly target: string;
  readonly kind: "backup" | "verify" | "prune";
  /** RFC 3339. */
  readonly startedAt: string;
  readonly progress: WorkProgress | null;
}

export interface ScheduleOptions {
  readonly paths: HomePaths;
  readonly log: Log;
  readonly now: () => number;
  /** The bucky executable to run. */
  readonly runtime: string;
  readonly backupEveryMs: number;
  readonly verifyEveryMs: number;
  /** The zone's targets as this device reaches them; `strict`: a damaged file throws. */
  readonly targets: (strict: boolean) => ResolvedTarget[];
}

export class BackupScheduler {
  private timer: ReturnType<typeof setInterval> | undefined;
  /** What runs for each target: one thing at a time, as they take the same lock. */
  private readonly running = new Map<
    string,
    { kind: RunningWork["kind"]; child: Subprocess; startedAt: number }
  >();

  /**
   * When each kind of work last failed, by target: tried again an interval later, not at
   * the next tick (a prune of a full target, a verify through a via that is off, would
   * otherwise start, fail and be logged every minute). A backup records its own failure.
   */
  private readonly failedAt = new Map<string, number>();

  /** The paused run last said to hold each target's backup (said once, not every tick). */
  private readonly pausedSaid = new Map<string, string>();

  constructor(private readonly options: ScheduleOptions) {}

  start(): void {
    const tickMs = Math.max(1_000, Math.min(60_000, this.options.backupEveryMs / 4));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    // A backup cut short leaves the repository valid; the next run picks up its packs.
    for (const { child } of this.running.values()) child.kill();
    await Promise.all([...this.running.values()].map(({ child }) => child.exited));
  }

  /** Starts a backup to `target` (or to each target) now; what was already running keeps on. */
  runNow(target?: string): { started: string[]; running: string[] } {
    // Asked for: a damaged targets file is the asker's answer.
    const targets = this.options.targets(true).filter((t) => !target || t.name === target);
    if (targets.length === 0) {
      throw new BuckyError(
        "E_NOT_FOUND",
        target ? `there is no backup target named ${target}` : "no backup target is set up",
        "Add one with `bucky backup target add`.",
      );
    }
    const started: string[] = [];
    const running: string[] = [];
    for (const { name } of targets) {
      if (this.running.has(name)) running.push(name);
      else {
        this.launch(name, "backup", ["backup", "run"]);
        started.push(name);
      }
    }
    return { started, running };
  }

  /**
   * Reads all of target `name` back now (every pack: what the daily verify only samples);
   * false when something runs for it already (it is verified after, on schedule).
   */
  verifyNow(name: string): boolean {
    if (!this.options.targets(true).some((t) => t.name === name)) {
      throw new BuckyError("E_NOT_FOUND", `there is no backup target named ${name}`);
    }
    if (this.running.has(name)) return false;
    this.launch(name, "verify", ["backup", "verify", "--read-data"]);
    return true;
  }

  /** What runs now, for each target that has something running. */
  runningNow(): RunningWork[] {
    return [...this.running].map(([target, { kind, startedAt }]) => ({
      target,
      kind,
      startedAt: new Date(startedAt).toISOString(),
      progress: readProgress(progressFileOf(this.options.paths, target)),
    }));
  }

  private tick(): void {
    const { paths, now, backupEveryMs, verifyEveryMs } = this.options;
    const status = readBackupStatus(paths);
    for (const target of this.options.targets(false)) {
      if (this.leftToAnotherRun(target.name)) continue;
      const last = status[target.name];
      const since = (at: string | undefined) =>
        elapsedSince(at ? Date.parse(at) : undefined, now());
      // After a failure, wait a full interval too rather than hammering a target that is down.
      const failedLately = (kind: RunningWork["kind"]) =>
        elapsedSince(this.failedAt.get(`${target.name}\n${kind}`), now()) < backupEveryMs;
      const lastAttempt = Math.min(since(last?.lastBackup?.at), since(last?.lastBackupError?.at));
      if (lastAttempt >= backupEveryMs && !failedLately("backup"))
        this.launch(target.name, "backup", ["backup", "run"]);
      else if (
        target.route.kind === "direct" &&
        since(last?.lastPrune?.at) >= verifyEveryMs &&
        last?.lastBackup &&
        !failedLately("prune")
      )
        this.launch(target.name, "prune", ["backup", "prune"]);
      else if (
        since(last?.lastVerify?.at) >= verifyEveryMs &&
        last?.lastBackup &&
        !failedLately("verify")
      )
        this.launch(target.name, "verify", [
          "backup",
          "verify",
          "--read-data-subset",
          VERIFY_SAMPLE,
        ]);
    }
  }

  /**
   * Whether a backup of this device to `target` that the schedule did not start runs now
   * (`bucky backup run`, even paused): the target is then left to it. Started now, a backup
   * would wait for it or, when it is paused, be refused at once; counted as failed, that
   * refusal kept the target from its backups a whole interval, however soon the paused run
   * went on or was ended.
   */
  private leftToAnotherRun(target: string): boolean {
    if (this.running.has(target)) return false; // the schedule's own: launch sees to it
    const holder = heldBackupRun(this.options.paths, target);
    if (!holder?.paused) this.pausedSaid.delete(target);
    if (!holder) return false;
    const said = `${holder.pid} ${holder.since}`;
    if (holder.paused && this.pausedSaid.get(target) !== said) {
      this.pausedSaid.set(target, said);
      this.options.log.warn("scheduled backups wait for a paused backup of this device", {
        target,
        pid: holder.pid,
        since: holder.startedAt,
      });
    }
    return true;
  }

  private launch(target: string, kind: "backup" | "verify" | "prune", args: string[]): void {
    const running = this.running.get(target);
    if (running) {
      if (
        kind === "backup" &&
        running.kind === "backup" &&
        this.options.now() - running.startedAt >= this.options.backupEveryMs
      ) {
        const behind = readBackupStatus(this.options.paths)[target]?.behindSince;
        if (!behind) {
          updateTargetStatus(this.options.paths, target, (s) => ({
            ...s,
            behindSince: new Date(this.options.now()).toISOString(),
          }));
          this.options.log.warn("backups cannot keep up", { target });
        }
      }
      return;
    }
    const child = Bun.spawn(
      [
        this.options.runtime,
        ...args,
        "--target",
        target,
        ...(kind === "prune"
          ? []
          : ["--progress-file", progressFileOf(this.options.paths, target)]),
        "--home",
        this.options.paths.home,
        "--json",
        "--log-level",
        "error",
      ],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
    );
    this.running.set(target, { kind, child, startedAt: this.options.now() });
    void (async () => {
      const stderr = await new Response(child.stderr).text();
      const code = await child.exited;
      this.running.delete(target);
      if (kind === "backup" && code === 0)
        updateTargetStatus(this.options.paths, target, (s) => ({ ...s, behindSince: null }));
      // A backup refused because another run of this device took the target meanwhile (by
      // hand, between the tick and this launch) did not fail it: left to that run.
      if (code !== 0 && kind === "backup" && heldBackupRun(this.options.paths, target)) {
        this.options.log.debug("scheduled backup left to another run of this device", { target });
      } else if (code !== 0) {
        this.failedAt.set(`${target}\n${kind}`, this.options.now());
        this.options.log.warn(`scheduled ${kind} failed`, {
          target,
          code,
          error: lastLine(stderr),
        });
      }
    })();
  }
}

function lastLine(text: string): string {
  return text.trim().split("\n").at(-1)?.slice(0, 300) ?? "";
}

/**
 * How long ago `atMs` was, by this device's clock: never (infinitely long) when it is not
 * known, or dated ahead of now. A clock set back put every last run ahead of it, and no
 * backup ran for as long as the step.
 */
function elapsedSince(atMs: number | undefined, nowMs: number): number {
  if (atMs === undefined || Number.isNaN(atMs) || atMs > nowMs) return Number.POSITIVE_INFINITY;
  return nowMs - atMs;
}
