/**
 * Reporting an app that will not stay up. Each report is a changeset every device keeps,
 * so an app that crashes every 30 s for a month would add some 170,000 of them. Past its
 * first few crashes, a crash loop is reported as it stands, "crashed" with the count so
 * far, at most every ten minutes; the quiet restarts in between are not, and whatever
 * ends the loop (it runs, it is stopped) is reported at once.
 */
import type { RunState } from "./spec.ts";

/** Crashes reported one by one before a loop is reported only now and then. */
export const CRASH_LOOP_AFTER = 3;
export const CRASH_LOOP_REPORT_EVERY_MS = 10 * 60_000;

export interface ReportedState {
  readonly state: RunState;
  readonly atMs: number;
}

/** Whether a change to `next` is worth a report, given what was last reported. */
export function worthReporting(
  last: ReportedState | undefined,
  next: { state: RunState; restarts: number },
  nowMs: number,
): boolean {
  if (!last || next.restarts < CRASH_LOOP_AFTER || last.state !== "crashed") return true;
  if (next.state === "starting") return false;
  if (next.state === "crashed") return nowMs - last.atMs >= CRASH_LOOP_REPORT_EVERY_MS;
  return true;
}
