/**
 * The first page: for an admin the zone at a glance (how safe its data is and what needs
 * attention, each with a link that does something about it; devices, apps, backups, and
 * the traffic of the last day); for anyone else, their apps.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import type { SandboxNote } from "../apps/sandbox-facts.ts";
import type { AppStatus } from "../apps/status.ts";
import { mayUseApp, panelRights } from "../users/access.ts";
import type { DeviceView } from "../zone/devices.ts";
import type { ReliabilityNote } from "../zone/reliability.ts";
import type { ZoneBackup, ZoneStatus } from "../zone/status.ts";
import { AppCards } from "./app-cards.tsx";
import { type Bar, BarChart } from "./chart.tsx";
import { Cards, shown, Tag, Time, useLocale } from "./components.tsx";
import { DeviceCards } from "./device-cards.tsx";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

const HOUR_MS = 3_600_000;

type TrafficSeries = { app: string; points: { at: string; requests: number }[] }[];

export function overviewPages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    if (!panelRights(c.env.viewer).seeZone) {
      const apps = await page.api.get<{ apps: AppStatus[] }>("/v1/apps");
      return page.render(
        "",
        t.nav.yourApps,
        shown(apps, (data) => (
          <YourApps apps={data.apps.filter((a) => mayUseApp(c.env.viewer, a))} />
        )),
      );
    }
    const [status, devices, apps, traffic] = await Promise.all([
      page.api.get<ZoneStatus>("/v1/status"),
      page.api.get<{ devices: DeviceView[] }>("/v1/devices"),
      page.api.get<{ apps: AppStatus[] }>("/v1/apps"),
      page.api.get<{ series?: TrafficSeries }>("/v1/traffic/zone"),
    ]);
    return page.render(
      "",
      t.nav.overview,
      <>
        {shown(status, (data) => (
          <Reliability status={data} />
        ))}
        <h2>{t.nav.devices}</h2>
        {shown(devices, (data) => (
          <DeviceCards devices={data.devices} actions={false} />
        ))}
        <h2>{t.nav.apps}</h2>
        {shown(apps, (data) => (
          <AppCards apps={data.apps} />
        ))}
        <p>
          <a class="button secondary" href={href("store")}>
            {t.apps.browseStore}
          </a>
        </p>
        <h2>{t.nav.backups}</h2>
        {shown(status, (data) => (
          <ZoneBackups backups={data.backups} />
        ))}
        <h2>{t.overview.traffic}</h2>
        {shown(traffic, (data) => (
          <TrafficCharts series={data.series ?? []} />
        ))}
      </>,
    );
  });
}

const Reliability: FC<{ status: ZoneStatus }> = ({ status }) => {
  const { t } = useLocale();
  const r = status.reliability;
  return (
    <section aria-labelledby="level">
      <p class="level" id="level">
        {t.overview.level({ level: r.level })}
      </p>
      <p>{t.overview.meaning[r.meaning]({ devices: r.unprotected })}</p>
      {r.notes.length + status.sandbox.length > 0 ? (
        <ul>
          {r.notes.map((note) => (
            <li class="warn">
              <Note note={note} />
            </li>
          ))}
          {status.sandbox.map((note) => (
            <li class="warn">
              <SandboxWarning note={note} />
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">{t.overview.allWell}</p>
      )}
    </section>
  );
};

/** A reliability note in words, with the link that does something about it. */
export const Note: FC<{ note: ReliabilityNote }> = ({ note }) => {
  const { t } = useLocale();
  const n = t.notes;
  switch (note.kind) {
    case "no-backup":
      return (
        <>
          {n.noBackup({ device: note.device })}{" "}
          {note.why === "no-key" ? (
            <a href={href("backups#key")}>{n.giveKey}</a>
          ) : note.why === "no-target" ? (
            <a href={href("backups#add")}>{n.addTarget}</a>
          ) : (
            n.why[note.why]
          )}
        </>
      );
    case "backup-failed":
      return <>{n.backupFailed(note)}</>;
    case "cannot-keep-up":
      return <>{n.cannotKeepUp(note)}</>;
    case "outpaced":
      return <>{n.outpaced({ device: note.device, target: note.target })}</>;
    case "stale-backup":
      return (
        <>
          {n.staleBackup(note)} <a href={href("backups")}>{n.backUpNow}</a>
        </>
      );
    case "never-verified":
    case "stale-verify":
      return (
        <>
          {note.kind === "never-verified" ? n.neverVerified(note) : n.staleVerify(note)}{" "}
          <a href={href("backups")}>{n.verifyNow}</a>
        </>
      );
    case "damaged":
      return (
        <>
          {n.damaged(note)} <a href={href("backups")}>{n.backUpNow}</a>
        </>
      );
    case "no-copy-yet":
      return <>{n.noCopyYet(note)}</>;
    case "copy-behind":
      return <>{n.copyBehind(note)}</>;
    case "single-copy":
      return <>{note.wanted ? n.singleCopyNoDevice(note) : n.singleCopyWanted(note)}</>;
    case "absent":
      return (
        <>
          {n.absent(note)} <a href={href("devices")}>{n.seeDevices}</a>
        </>
      );
  }
};

const SandboxWarning: FC<{ note: SandboxNote }> = ({ note }) => {
  const { t } = useLocale();
  return (
    <>
      {note.kind === "device-unsandboxed"
        ? t.notes.deviceUnsandboxed(note)
        : t.notes.appUnsandboxed(note)}
    </>
  );
};

/** Every device's backups, as the zone knows them: the same on every device. */
const ZoneBackups: FC<{ backups: readonly ZoneBackup[] }> = ({ backups }) => {
  const { t } = useLocale();
  if (backups.length === 0)
    return (
      <p class="warn">
        {t.backups.noDeviceBacksUp} <a href={href("backups#add")}>{t.notes.addTarget}</a>
      </p>
    );
  return (
    <Cards
      rows={backups}
      columns={[
        { label: t.backups.device, cell: (b) => b.device },
        { label: t.backups.target, cell: (b) => b.target },
        {
          label: t.backups.lastBackup,
          cell: (b) => (
            <>
              <Time iso={b.lastBackup?.at} />
              {b.lastError && (!b.lastBackup || b.lastError.at > b.lastBackup.at) ? (
                <div class="warn">{t.backups.failed({ message: b.lastError.message })}</div>
              ) : null}
            </>
          ),
        },
        {
          label: t.backups.lastVerify,
          cell: (b) =>
            b.lastVerify ? (
              <>
                <Time iso={b.lastVerify.at} /> <Tag value={b.lastVerify.ok ? "sound" : "damaged"} />
              </>
            ) : (
              <Time iso={null} />
            ),
        },
      ]}
    />
  );
};

/** Requests to each app per hour over the last day, on every gateway. */
const TrafficCharts: FC<{ series: TrafficSeries }> = ({ series }) => {
  const { t, nowMs } = useLocale();
  if (series.length === 0) return <p class="muted">{t.overview.noTraffic}</p>;
  const now = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
  return (
    <>
      {series.map(({ app, points }) => {
        const byHour = new Map(points.map((p) => [Date.parse(p.at), p.requests]));
        const bars: Bar[] = Array.from({ length: 24 }, (_, i) => {
          const at = now - (23 - i) * HOUR_MS;
          return { label: t.charts.hoursAgo({ hours: 23 - i }), value: byHour.get(at) ?? 0 };
        });
        return (
          <BarChart
            title={t.charts.requestsTitle({ app })}
            bars={bars}
            format={(n) => t.charts.requests({ count: Math.round(n) })}
          />
        );
      })}
    </>
  );
};

/** A person's own apps: the ones they may open, and a way to each. */
const YourApps: FC<{ apps: AppStatus[] }> = ({ apps }) => {
  const { t } = useLocale();
  if (apps.length === 0) return <p class="muted">{t.overview.noneShared}</p>;
  return (
    <ul class="grid">
      {apps.map((a) => (
        <li class="card">
          <h2 class="head">{a.app}</h2>
          {a.state === "running" ? (
            <a class="button" href={`/apps/${encodeURIComponent(a.app)}/`}>
              {t.apps.openApp({ app: a.app })}
            </a>
          ) : (
            <Tag value={a.state} />
          )}
        </li>
      ))}
    </ul>
  );
};
