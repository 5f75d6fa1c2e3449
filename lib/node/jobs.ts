/**
 * Long work the daemon does for someone waiting (an install from the store, the first
 * backup to a new target, a file restored from a snapshot): started at once, it goes on
 * in the background while whoever asked looks at how it goes (the panel shows it live).
 * Jobs live in the daemon's memory: the last few, for an hour after they end.
 */
import { randomBytes } from "node:crypto";
import { BuckyError } from "../errors.ts";
import type { Log } from "../log.ts";

export const JOB_KINDS = ["install", "add-target", "restore"] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export interface JobProgress {
  readonly done: number;
  /** null while the whole is not known. */
  readonly total: number | null;
  readonly unit: "bytes" | "files";
  /** The part of the work it is in, when the work has parts. */
  readonly step?: string;
}

export interface JobView {
  readonly id: string;
  readonly kind: JobKind;
  /** What it works on: an app's name, a target's name, a file's path. */
  readonly subject: string;
  /**
   * The device doing it: jobs live in its daemon alone (a panel at another device's
   * gateway cannot follow them), and end with it.
   */
  readonly device: string;
  readonly state: "running" | "done" | "failed";
  /** Where it is, in a word the panel knows ("fetching", "starting", "verifying"…). */
  readonly step: string | null;
  readonly progress: JobProgress | null;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly result: unknown;
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly hint?: string;
  } | null;
}

/** What a job's work reports as it goes. */
export interface JobReport {
  step(step: string): void;
  progress(progress: JobProgress): void;
}

const KEPT_MS = 60 * 60_000;
const MAX_JOBS = 64;

interface Job {
  view: JobView;
  /** Read when the job is looked at: progress kept elsewhere (a child's file). */
  readProgress?: () => JobProgress | null;
}

export class Jobs {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly log: Log,
    private readonly now: () => number,
    /** This device's name, which every job's view says (JobView.device). */
    private readonly device: string,
  ) {}

  /** Starts `work`; what it returns is the job's result, what it throws its error. */
  start(
    kind: JobKind,
    subject: string,
    work: (report: JobReport) => Promise<unknown>,
    readProgress?: () => JobProgress | null,
  ): JobView {
    this.sweep();
    const id = randomBytes(12).toString("hex");
    const job: Job = {
      view: {
        id,
        kind,
        subject,
        device: this.device,
        state: "running",
        step: null,
        progress: null,
        startedAt: new Date(this.now()).toISOString(),
        finishedAt: null,
        result: null,
        error: null,
      },
      ...(readProgress ? { readProgress } : {}),
    };
    this.jobs.set(id, job);
    const update = (change: Partial<JobView>) => {
      job.view = { ...job.view, ...change };
    };
    const report: JobReport = {
      step: (step) => update({ step }),
      progress: (progress) => update({ progress }),
    };
    void (async () => {
      try {
        const result = await work(report);
        update({ state: "done", result, finishedAt: new Date(this.now()).toISOString() });
        this.log.info("job done", { job: kind, subject });
      } catch (error) {
        const failure =
          error instanceof BuckyError
            ? error.toJSON()
            : {
                code: "E_INTERNAL",
                message: error instanceof Error ? error.message : String(error),
              };
        update({ state: "failed", error: failure, finishedAt: new Date(this.now()).toISOString() });
        this.log.warn("job failed", { job: kind, subject, error: failure.message });
      }
    })();
    return job.view;
  }

  get(id: string): JobView {
    const job = this.jobs.get(id);
    if (!job)
      throw new BuckyError(
        "E_NOT_FOUND",
        "no such job on this device",
        "A job is followed at the device that does it (the one whose panel started it), for an hour after it ends, until its daemon restarts.",
      );
    return this.viewOf(job);
  }

  /** The jobs of this device, newest first. */
  list(): JobView[] {
    this.sweep();
    return [...this.jobs.values()].map((job) => this.viewOf(job)).reverse();
  }

  private viewOf(job: Job): JobView {
    if (job.view.state !== "running" || !job.readProgress) return job.view;
    const progress = job.readProgress();
    return {
      ...job.view,
      progress: progress ?? job.view.progress,
      step: progress?.step ?? job.view.step,
    };
  }

  private sweep(): void {
    for (const [id, job] of this.jobs) {
      const ended = job.view.finishedAt ? Date.parse(job.view.finishedAt) : undefined;
      if (ended !== undefined && this.now() - ended > KEPT_MS) this.jobs.delete(id);
    }
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= MAX_JOBS) break;
      if (job.view.state !== "running") this.jobs.delete(id);
    }
  }
}
