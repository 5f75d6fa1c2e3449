/** The zone's apps, as cards: state, where each runs, its version, and a way to open it. */
import type { FC } from "hono/jsx";
import type { AppStatus } from "../apps/status.ts";
import { Tag, useLocale } from "./components.tsx";
import { href } from "./layout.tsx";

/** What the apps page adds to each app: its icon, and a newer version from its catalog. */
export interface AppExtras {
  readonly icon?: string;
  readonly update?: { readonly catalog: string; readonly version: string };
}

export const AppCards: FC<{
  apps: readonly AppStatus[];
  extras?: ReadonlyMap<string, AppExtras>;
}> = ({ apps, extras }) => {
  const { t } = useLocale();
  if (apps.length === 0)
    return (
      <p class="muted">
        {t.apps.none} <a href={href("store")}>{t.apps.browseStore}</a>
      </p>
    );
  return (
    <ul class="grid">
      {apps.map((a) => {
        const extra = extras?.get(a.app);
        return (
          <li class="card">
            <div class="head">
              {extra?.icon ? (
                <img class="icon" src={extra.icon} alt="" width={48} height={48} />
              ) : null}
              <div>
                <h3>
                  <a href={href(`apps/${encodeURIComponent(a.app)}`)}>{a.app}</a>
                </h3>
                <span class="muted">{t.apps.version({ version: a.version })}</span>
              </div>
            </div>
            <div>
              <Tag value={a.state} />{" "}
              <span class="muted">
                {a.device ? t.apps.runsOn({ device: a.device }) : t.apps.noDevice}
              </span>
              {a.exposure === "public" ? (
                <>
                  {" "}
                  <Tag value="public" />
                </>
              ) : null}
            </div>
            {a.error ? (
              <div class="warn">
                <AppProblem app={a} />
              </div>
            ) : null}
            {extra?.update ? (
              <div class="warn">{t.apps.updateAvailable({ version: extra.update.version })}</div>
            ) : null}
            <div class="actions">
              {a.state === "running" ? (
                <a class="button" href={`/apps/${encodeURIComponent(a.app)}/`}>
                  {t.apps.openApp({ app: a.app })}
                </a>
              ) : null}
              <a class="button secondary" href={href(`apps/${encodeURIComponent(a.app)}`)}>
                {t.apps.manage({ app: a.app })}
              </a>
            </div>
          </li>
        );
      })}
    </ul>
  );
};

/**
 * What went wrong with an app: the zone's words, or the words of the device that runs it
 * (its report, which a member writes as it likes), said to be that device's.
 */
export const AppProblem: FC<{ app: AppStatus }> = ({ app }) => {
  const { t } = useLocale();
  if (app.error === null) return null;
  return (
    <>
      {app.reportedBy === null
        ? app.error
        : t.apps.problemSaid({ device: app.reportedBy, problem: app.error })}
    </>
  );
};
