/**
 * Long work, followed live: an install from the store, the first backup to a new target,
 * a file put back from a snapshot. The page shows where the work is and how far it has
 * come, and when it ends, how it went and what to do next.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import type { JobView } from "../node/jobs.ts";
import type { StoreInstalled as InstallResult } from "../node/store-api.ts";
import { formatBytes } from "../units.ts";
import { Failure, Progress, useLocale } from "./components.tsx";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

interface AddTargetResult {
  readonly name: string;
  readonly firstBackup: { files: number; bytes: number } | null;
  readonly verified: { ok: boolean } | null;
}

interface RestoreResult {
  readonly restoredAs: string;
  readonly files: number;
  readonly bytes: number;
}

export function jobPages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/jobs/:id", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const id = c.req.param("id");
    const job = await page.api.get<JobView>(`/v1/jobs/${encodeURIComponent(id)}`);
    if (!job.ok) return page.back("", job, "");
    const running = job.data.state === "running";
    return page.render(
      sectionOf(job.data),
      t.jobs.title[job.data.kind]({ subject: job.data.subject }),
      <>
        <div
          data-live={running ? href(`jobs/${id}/live`) : undefined}
          aria-busy={running ? "true" : undefined}
        >
          <JobStatus job={job.data} />
        </div>
        {/* Its work and its progress are the serving device's daemon's alone: said, so no
            one waits for it at another device's panel, or takes it for the zone's. */}
        <p class="muted">{t.jobs.workOn({ device: job.data.device })}</p>
      </>,
      { live: running },
    );
  });

  app.get("/jobs/:id/live", async (c) => {
    const page = pageOf(c);
    const job = await page.api.get<JobView>(`/v1/jobs/${encodeURIComponent(c.req.param("id"))}`);
    if (!job.ok) return new Response(null, { status: 404 });
    return page.part(<JobStatus job={job.data} />, job.data.state === "running");
  });
}

function sectionOf(job: JobView): string {
  return job.kind === "install" ? "apps" : "backups";
}

const JobStatus: FC<{ job: JobView }> = ({ job }) => {
  const { t } = useLocale();
  if (job.state === "failed" && job.error)
    return (
      <>
        <Failure error={job.error} />
        <Next job={job} />
      </>
    );
  if (job.state === "running") {
    const words = t.jobs.steps as Record<string, string>;
    const label = words[job.step ?? ""] ?? t.jobs.working;
    return (
      <>
        <p>{label}</p>
        <Progress progress={job.progress} label={label} />
      </>
    );
  }
  return (
    <>
      <div class="notice ok" role="status">
        <Done job={job} />
      </div>
      <Next job={job} />
    </>
  );
};

const Done: FC<{ job: JobView }> = ({ job }) => {
  const { t } = useLocale();
  switch (job.kind) {
    case "install": {
      const r = job.result as InstallResult;
      return (
        <>
          <p>
            {r.upgradedFrom
              ? t.jobs.upgraded({ app: r.app, from: r.upgradedFrom, version: r.version })
              : t.jobs.installed({ app: r.app, version: r.version })}
          </p>
          <p>
            {r.state === "running" && r.runsOn
              ? t.jobs.runsOn({ device: r.runsOn })
              : t.jobs.notRunning({
                  state: (t.status as Record<string, string>)[r.state] ?? r.state,
                })}
          </p>
          {r.error ? (
            <p class="warn">
              {r.reportedBy === null
                ? r.error
                : t.apps.problemSaid({ device: r.reportedBy, problem: r.error })}
            </p>
          ) : null}
        </>
      );
    }
    case "add-target": {
      const r = job.result as AddTargetResult;
      return (
        <>
          <p>{t.jobs.targetAdded({ target: r.name })}</p>
          {r.firstBackup ? (
            <p>
              {t.jobs.firstBackup({
                files: r.firstBackup.files,
                size: formatBytes(r.firstBackup.bytes),
              })}
            </p>
          ) : null}
          {r.verified ? <p>{r.verified.ok ? t.jobs.verified : t.jobs.damaged}</p> : null}
        </>
      );
    }
    case "restore": {
      const r = job.result as RestoreResult;
      return <p>{t.jobs.restored({ path: r.restoredAs, size: formatBytes(r.bytes) })}</p>;
    }
  }
};

/** Where to go from here. */
const Next: FC<{ job: JobView }> = ({ job }) => {
  const { t } = useLocale();
  if (job.kind === "install") {
    const r = job.result as InstallResult | null;
    return (
      <div class="actions">
        {r?.state === "running" ? (
          <a class="button" href={`/apps/${encodeURIComponent(r.app)}/`}>
            {t.apps.openApp({ app: r.app })}
          </a>
        ) : null}
        <a class="button secondary" href={href(r ? `apps/${encodeURIComponent(r.app)}` : "store")}>
          {r ? t.apps.manage({ app: r.app }) : t.jobs.backToStore}
        </a>
      </div>
    );
  }
  return (
    <p>
      <a class="button secondary" href={href("backups")}>
        {t.jobs.backToBackups}
      </a>
    </p>
  );
};
