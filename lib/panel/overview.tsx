/**
 * The first page: for an admin the zone at a glance (how safe its data is and what needs
 * attention, each with a link that does something about it; devices, apps, backups, and
 * the traffic of the last day); for anyone else, their apps.
 */
import type { Hono } from "hono";
import type { Child, FC } from "hono/jsx";
import type { AppStatus } from "../apps/status.ts";
import type { UsageFacts } from "../facts/payload.ts";
import type { Messages } from "../i18n/messages.ts";
import { formatBytes } from "../units.ts";
import { mayUseApp, panelRights } from "../users/access.ts";
import { mayChangeDevices, panelActor } from "../users/account-rights.ts";
import { type ByAttentionKind, sayAttention } from "../zone/attention.ts";
import type { DeviceView } from "../zone/devices.ts";
import type { ReliabilityNote } from "../zone/reliability.ts";
import type { DeviceDisk, ZoneBackup, ZoneCertificate, ZoneStatus } from "../zone/status.ts";
import { AppCards } from "./app-cards.tsx";
import { type Bar, BarChart } from "./chart.tsx";
import { Action, Cards, Confirm, Failure, shown, Tag, Time, useLocale } from "./components.tsx";
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
      page.api.get<ZoneStatus>("/v1/status?disk=1"),
      page.api.get<{ devices: DeviceView[] }>("/v1/devices"),
      page.api.get<{ apps: AppStatus[] }>("/v1/apps"),
      page.api.get<{ series?: TrafficSeries }>("/v1/traffic/zone"),
    ]);
    return page.render(
      "",
      t.nav.overview,
      <>
        {shown(status, (data) => (
          <Reliability status={data} manage={panelRights(c.env.viewer).manageApps} />
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
        <h2 id="disk">{t.overview.disk}</h2>
        {shown(status, (data) => (
          <DiskCards disk={data.disk ?? []} />
        ))}
        <h2 id="certificates">{t.overview.certificates}</h2>
        {shown(status, (data) => (
          <ZoneCertificates
            certificates={data.certificates}
            approves={mayChangeDevices(panelActor(c.env.viewer))}
          />
        ))}
        <h2>{t.overview.traffic}</h2>
        {shown(traffic, (data) => (
          <TrafficCharts series={data.series ?? []} />
        ))}
      </>,
    );
  });

  // The zone CA's root, to trust on phones and laptops (served as a CA certificate, which
  // they offer to install).
  app.get("/zone-ca.crt", async (c) => {
    const page = pageOf(c);
    const root = await page.api.post<{ pem: string }>("/v1/ca");
    if (!root.ok)
      return page.render("", page.locale.t.overview.zoneCaTitle, <Failure error={root.error} />);
    return c.body(root.data.pem, 200, {
      "content-type": "application/x-x509-ca-cert",
      "content-disposition": 'attachment; filename="zone-ca.crt"',
    });
  });
}

const Reliability: FC<{ status: ZoneStatus; manage: boolean }> = ({ status, manage }) => {
  const { t } = useLocale();
  const r = status.reliability;
  const attention = sayAttention(status, attentionInWords(t, manage));
  return (
    <section aria-labelledby="level">
      <p class="level" id="level">
        {t.overview.level({ level: r.level })}
      </p>
      <p>{t.overview.meaning[r.meaning]({ devices: r.unprotected })}</p>
      {r.notes.length + attention.length > 0 ? (
        <ul>
          {r.notes.map((note) => (
            <li class="warn">
              <Note note={note} here={status.device.name} />
            </li>
          ))}
          {attention.map((said) => (
            <li class="warn">{said}</li>
          ))}
        </ul>
      ) : (
        <p class="muted">{t.overview.allWell}</p>
      )}
    </section>
  );
};

/**
 * A reliability note in words, with the link that does something about it. The backups
 * page acts on the device serving the panel (`here`), so a note about another device's
 * backups says what that device does about it by itself instead of linking there: never a
 * command to type there (the panel asks for none).
 */
export const Note: FC<{ note: ReliabilityNote; here: string }> = ({ note, here }) => {
  const { t } = useLocale();
  const n = t.notes;
  // A note of a kind about no one device (none yet) is about the zone: nothing to redirect.
  const elsewhere = "device" in note && note.device !== here;
  switch (note.kind) {
    case "no-backup":
      return (
        <>
          {n.noBackup({ device: note.device })}{" "}
          {note.why === "no-key" ? (
            elsewhere ? (
              n.giveKeyOn(note)
            ) : (
              <a href={href("backups#key")}>{n.giveKey}</a>
            )
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
    case "backup-changing":
      return <>{n.backupChanging(note)}</>;
    case "backup-left-out":
      return <>{n.backupLeftOut(note)}</>;
    case "prune-failing":
      return <>{n.pruneFailing(note)}</>;
    case "hot-failing":
      return <>{n.hotFailing(note)}</>;
    case "stale-backup":
      return (
        <>
          {n.staleBackup(note)}{" "}
          {elsewhere ? n.backsUpByItself(note) : <a href={href("backups")}>{n.backUpNow}</a>}
        </>
      );
    case "never-verified":
    case "stale-verify":
      return (
        <>
          {note.kind === "never-verified" ? n.neverVerified(note) : n.staleVerify(note)}{" "}
          {elsewhere ? n.verifiesByItself(note) : <a href={href("backups")}>{n.verifyNow}</a>}
        </>
      );
    case "damaged":
      return (
        <>
          {n.damaged(note)}{" "}
          {elsewhere ? n.backsUpByItself(note) : <a href={href("backups")}>{n.backUpNow}</a>}
        </>
      );
    case "damage-to-store":
      return (
        <>
          {n.damageToStore(note)}{" "}
          {elsewhere ? n.backsUpByItself(note) : <a href={href("backups")}>{n.backUpNow}</a>}
        </>
      );
    case "forged-snapshots":
      return (
        <>
          {n.forgedSnapshots(note)}{" "}
          {elsewhere ? (
            <a href={href("devices")}>{n.seeDevices}</a>
          ) : (
            <a href={href("backups")}>{n.seeSnapshots}</a>
          )}
        </>
      );
    case "forged-index":
      return <>{n.forgedIndex(note)}</>;
    case "no-copy-yet":
      return <>{n.noCopyYet(note)}</>;
    case "copy-behind":
      return <>{n.copyBehind(note)}</>;
    case "single-copy":
      return <>{note.wanted ? n.singleCopyNoDevice(note) : n.singleCopyWanted(note)}</>;
    case "absent":
      return (
        <>
          {note.aheadBy
            ? n.absentSaidAhead({ ...note, by: note.aheadBy.join(", ") })
            : n.absent(note)}{" "}
          <a href={href("devices")}>{n.seeDevices}</a>
        </>
      );
    case "clock-ahead":
      return (
        <>
          {n.clockAhead({ device: note.device, figures: note.figures, by: note.by.join(", ") })}{" "}
          <a href={href("devices")}>{n.seeDevices}</a>
        </>
      );
    case "certificate-missing":
      return <>{n.certificateMissing(note)}</>;
    case "certificate-expired":
      return <>{n.certificateExpired(note)}</>;
    case "certificate-expiring":
      return <>{n.certificateExpiring(note)}</>;
    case "certificates-left-out":
      return <>{n.certificatesLeftOut({ ...note, names: note.names.join(", ") })}</>;
    case "gateway-down":
      return <>{n.gatewayDown(note)}</>;
    case "gateways-offline":
      return <>{n.gatewaysOffline({ devices: note.devices.join(", ") })}</>;
    case "stopped":
      return (
        <>
          {n.stopped(note)} <a href={href("devices")}>{n.seeDevices}</a>
        </>
      );
    case "sync-refused":
      return (
        <>
          {n.syncRefused(note)} <a href={href("devices")}>{n.seeDevices}</a>
        </>
      );
    case "disk-nearly-full":
      return (
        <>
          {n.diskNearlyFull({
            device: note.device,
            free: formatBytes(note.freeBytes),
            total: formatBytes(note.totalBytes),
          })}{" "}
          <a href={href("#disk")}>{n.seeDisk}</a>
        </>
      );
    default:
      // Every kind has its words above: a new kind without them fails to compile here,
      // rather than showing an empty note.
      return unsaid(note);
  }
};

function unsaid(note: never): null {
  void note;
  return null;
}

/**
 * What else needs attention, each kind in the viewer's language, with what to do: a way of
 * saying every kind of note `bucky status` warns of (lib/zone/attention.ts), or the build
 * fails. Names in them are checked where the notes are made; a device's own words (why it
 * cannot sandbox apps) are said to be its words.
 */
function attentionInWords(t: Messages, manage: boolean): ByAttentionKind<Child> {
  const n = t.notes;
  return {
    sandbox: (note) =>
      note.kind === "device-unsandboxed" ? n.deviceUnsandboxed(note) : n.appUnsandboxed(note),
    imageNotes: (note) => (
      <>
        {n.imageUnrunnable(note)} <a href={href("devices")}>{n.seeDevices}</a>
      </>
    ),
    unreadableApps: (unreadable) => (
      <>
        {unreadable.newer ? n.appSpecNewer(unreadable) : n.appSpecUnreadable(unreadable)}
        {manage && !unreadable.newer ? (
          <Confirm
            summary={t.apps.removeOpen}
            text={n.removeUnreadable({ app: unreadable.app })}
            action={href(`apps/${encodeURIComponent(unreadable.app)}/remove`)}
            label={t.apps.remove({ app: unreadable.app })}
          />
        ) : null}
      </>
    ),
    ungrantedPurges: (note) => n.purgeUngranted(note),
    // Revoked on the Devices page (of a device holding the owner key: the note says so).
    quarantined: (note) => (
      <>
        {n.deviceQuarantined(note)} <a href={href("devices")}>{n.seeDevices}</a>
      </>
    ),
    revokedForks: (note) => n.deviceRevokedFork(note),
    brokenChains: (note) => n.brokenChain(note),
    nameClashes: (note) => (
      <>
        {n.deviceNameClash(note)} <a href={href("devices")}>{n.seeDevices}</a>
      </>
    ),
    publicPastBudget: (note) =>
      n.publicPastBudget({
        files: note.files,
        size: formatBytes(note.bytes),
        budget: formatBytes(note.budgetBytes),
      }),
    storedFilesAtRisk: (note) =>
      n.storedFilesAtRisk({
        files: note.files,
        pastBudget: note.pastBudget,
        budget: formatBytes(note.budgetBytes),
      }),
    unsignedBudgets: (note) =>
      n.unsignedBudget({ key: note.key, budget: formatBytes(note.defaultBytes) }),
    writesRefused: (note) => n.writesRefused(note),
  };
}

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
                <div class="warn">
                  {t.backups.failedSaid({ device: b.device, message: b.lastError.message })}
                </div>
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

/** Where each device's space goes, and what nothing uses any more. */
const DiskCards: FC<{ disk: readonly DeviceDisk[] }> = ({ disk }) => {
  const { t } = useLocale();
  const o = t.overview;
  const measured = (d: DeviceDisk, cell: (usage: NonNullable<DeviceDisk["usage"]>) => Child) =>
    d.usage ? cell(d.usage) : <span class="muted">{o.diskNotMeasured}</span>;
  return (
    <>
      <Cards
        rows={disk}
        columns={[
          { label: o.diskDevice, cell: (d) => d.device },
          // Each device measures its own space, every ten minutes (this one: now), and the
          // figures below are as of then on every device.
          {
            label: o.diskMeasured,
            cell: (d) =>
              measured(d, (usage) => (usage.measuredAt ? <Time iso={usage.measuredAt} /> : "—")),
          },
          {
            label: o.diskFree,
            cell: (d) => (
              <>
                {d.freeBytes === null || d.totalBytes === null
                  ? "—"
                  : o.diskFreeOf({
                      free: formatBytes(d.freeBytes),
                      total: formatBytes(d.totalBytes),
                    })}
                {d.nearlyFull ? (
                  <>
                    {" "}
                    <Tag value="nearly full" />
                  </>
                ) : null}
              </>
            ),
          },
          {
            label: o.diskState,
            cell: (d) =>
              measured(d, (usage) => (
                <>
                  {formatBytes(usage.state.bytes)}{" "}
                  <span class="muted">{o.diskChangesets({ count: usage.state.changesets })}</span>
                </>
              )),
          },
          {
            label: o.diskNamedData,
            cell: (d) => measured(d, (usage) => formatBytes(usage.namedData.bytes)),
          },
          {
            label: o.diskApps,
            cell: (d) =>
              measured(d, (usage) => (
                <>
                  {Object.entries(usage.apps).map(([app, used]) => (
                    <div>
                      {app} {formatBytes(appBytes(used))}
                    </div>
                  ))}
                </>
              )),
          },
          { label: o.diskLogs, cell: (d) => measured(d, (usage) => formatBytes(usage.logsBytes)) },
          {
            label: o.diskBackupCaches,
            cell: (d) => measured(d, (usage) => formatBytes(usage.backupCacheBytes)),
          },
        ]}
      />
      {disk.map((d) => {
        const apps = Object.entries(d.usage?.apps ?? {});
        if (apps.length === 0) return null;
        const bars: Bar[] = apps.map(([app, used]) => ({ label: app, value: appBytes(used) }));
        return (
          <BarChart
            title={t.charts.diskPerApp({ device: d.device })}
            bars={bars}
            format={formatBytes}
          />
        );
      })}
      {disk.flatMap((d) =>
        (d.usage?.leftovers ?? []).map((leftover) => (
          <p class="muted">
            {o.diskLeftover({
              device: d.device,
              what: leftover.what,
              size: formatBytes(leftover.bytes),
            })}
          </p>
        )),
      )}
    </>
  );
};

/** All an app takes on a device: its data, packages, copies and output. */
function appBytes(used: UsageFacts["apps"][string]): number {
  return (
    used.dataBytes +
    (used.upgradeCopiesBytes ?? 0) +
    used.packagesBytes +
    used.replicaBytes +
    used.conflictsBytes +
    used.logsBytes
  );
}

/** Each gateway's certificates, and the zone CA's root to download. */
const ZoneCertificates: FC<{
  certificates: readonly ZoneCertificate[];
  /** Whether the viewer may approve a gateway: the owner alone (lib/users/account-rights.ts). */
  approves: boolean;
}> = ({ certificates, approves }) => {
  const { t } = useLocale();
  const o = t.overview;
  return (
    <>
      {certificates.length === 0 ? (
        <p class="muted">{o.noCertificates}</p>
      ) : (
        <Cards
          rows={certificates}
          columns={[
            { label: o.certificateName, cell: (cert) => cert.name },
            { label: o.certificateGateway, cell: (cert) => cert.device },
            { label: o.certificateIssuer, cell: (cert) => o.certificateIssuers[cert.issuer] },
            {
              label: o.certificateUntil,
              cell: (cert) => (
                <>
                  {cert.notAfter ? <Time iso={cert.notAfter} /> : o.certificateNone}
                  {cert.lastError ? (
                    <div class="warn">
                      {o.certificateFailed({
                        device: cert.device,
                        message: cert.lastError.message,
                      })}
                      {approves && cert.remedy?.kind === "approve" ? (
                        <Action
                          action={href(
                            `devices/${encodeURIComponent(cert.device)}/approve-gateway`,
                          )}
                          label={o.approveGateway}
                        />
                      ) : cert.remedy ? (
                        // What to do, in the zone's words: the error's hint is the gateway's
                        // own (its facts), and a member can make it name any command.
                        <div class="muted">
                          {o.certificateRemedies[cert.remedy.kind](cert.remedy)}
                          {cert.remedy.kind === "free-disk" ? (
                            <>
                              {" "}
                              <a href={href("#disk")}>{t.notes.seeDisk}</a>
                            </>
                          ) : null}
                        </div>
                      ) : null}
                    </div>
                  ) : null}
                </>
              ),
            },
          ]}
        />
      )}
      <p>
        {o.zoneCa} <a href={href("zone-ca.crt")}>{o.zoneCaDownload}</a> {o.zoneCaTrust}
      </p>
    </>
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
