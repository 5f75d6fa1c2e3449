/** Jobs: their work runs on after the start, and how it ended is kept to be looked at. */
import { describe, expect, test } from "bun:test";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { Jobs, type JobView } from "./jobs.ts";

const log = createLog({ level: "silent" });

async function ended(jobs: Jobs, id: string): Promise<JobView> {
  for (;;) {
    const job = jobs.get(id);
    if (job.state !== "running") return job;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("a job", () => {
  test("that fails says why, whatever its work threw", async () => {
    const jobs = new Jobs(log, Date.now, "box");
    const thrown: unknown[] = [
      new BuckyError("E_UNAVAILABLE", "the target is away"),
      new Error("a bug"),
      "a string",
      undefined,
      null,
    ];
    const views = await Promise.all(
      thrown.map(async (error) => {
        const { id } = jobs.start("restore", "data/a", async () => {
          throw error;
        });
        const job = await ended(jobs, id);
        return { state: job.state, code: job.error?.code, message: job.error?.message };
      }),
    );
    expect(views).toEqual([
      { state: "failed", code: "E_UNAVAILABLE", message: "the target is away" },
      { state: "failed", code: "E_INTERNAL", message: "a bug" },
      { state: "failed", code: "E_INTERNAL", message: "a string" },
      { state: "failed", code: "E_INTERNAL", message: "undefined" },
      { state: "failed", code: "E_INTERNAL", message: "null" },
    ]);
  });
});
