/**
 * Backups: every target of the zone and how each is reached, what runs for it now (live),
 * backing up and verifying now, adding a target (a directory of this device, or an SFTP
 * server whose host key is shown to accept first, reached with a key this device makes),
 * removing one; each target's snapshots, and inside one: folders to look through, a file
 * to download or put back; and the recovery phrase, to give this device the backup key.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import type { WorkProgress } from "../backup/progress-file.ts";
import type { SaidLatest } from "../backup/said-latest.ts";
import type { SftpProbe } from "../backup/sftp-backend.ts";
import type { SnapshotEntry, SnapshotListing } from "../backup/snapshot-files.ts";
import type { SnapshotTrust } from "../backup/snapshot-trust.ts";
import type { JobView } from "../node/jobs.ts";
import { formatBytes } from "../units.ts";
import { panelRights } from "../users/access.ts";
import type { ZoneBackup, ZoneStatus } from "../zone/status.ts";
import { type Bar, BarChart } from "./chart.tsx";
import {
  Action,
  Cards,
  Confirm,
  CopyButton,
  Progress,
  shown,
  Tag,
  Time,
  useLocale,
} from "./components.tsx";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

/**
 * A target as the local API gives it. Its `lastBackup`, `lastVerify` and `lastBackupError`
 * are the serving device's own, left out here: the page shows every device's, as the zone's
 * status has them (ZoneBackup), so each gateway's panel says the same.
 */
interface BackupTarget {
  readonly name: string;
  readonly url: string;
  readonly via: string | null;
  readonly reach: "direct" | "through";
  readonly hostKey?: string;
  readonly running: {
    readonly kind: "backup" | "verify" | "prune";
    readonly startedAt: string;
    readonly progress: WorkProgress | null;
  } | null;
}

interface Backups {
  readonly holdsBackupKey: boolean;
  readonly sshPublicKey: string | null;
  readonly targets: readonly BackupTarget[];
}

interface Snapshot {
  readonly id: string;
  readonly time: string;
  readonly device: string;
  readonly files: number;
  readonly bytes: number;
  readonly addedBytes: number;
  readonly signedBy: string | null;
  readonly trust: SnapshotTrust;
}

const enc = encodeURIComponent;

export function backupPages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/backups", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const [backups, zone] = await Promise.all([
      page.api.get<Backups>("/v1/backups"),
      zoneBackups(page),
    ]);
    const busy = backups.ok && backups.data.targets.some((target) => target.running !== null);
    const secure = secureConnection(c.req.url);
    // A device's session sees the targets; acting on them takes this device's keys.
    const acts = panelRights(c.env.viewer).useDeviceKeys;
    return page.render(
      "backups",
      t.nav.backups,
      shown(backups, (data) => (
        <>
          {acts && !data.holdsBackupKey ? <KeyForm secure={secure} /> : null}
          <div data-live={href("backups/live")} aria-busy={busy ? "true" : undefined}>
            <Targets
              targets={data.targets}
              zone={zone}
              holdsKey={data.holdsBackupKey}
              acts={acts}
            />
          </div>
          {acts && data.holdsBackupKey && data.targets.length > 1 ? (
            <p>
              <Action action={href("backups/run")} label={t.backups.backUpAll} />
            </p>
          ) : null}
          {acts ? <AddTarget sshPublicKey={data.sshPublicKey} /> : null}
        </>
      )),
      { live: busy },
    );
  });

  app.get("/backups/live", async (c) => {
    const page = pageOf(c);
    const [backups, zone] = await Promise.all([
      page.api.get<Backups>("/v1/backups"),
      zoneBackups(page),
    ]);
    const busy = backups.ok && backups.data.targets.some((target) => target.running !== null);
    return page.part(
      shown(backups, (data) => (
        <Targets
          targets={data.targets}
          zone={zone}
          holdsKey={data.holdsBackupKey}
          acts={panelRights(c.env.viewer).useDeviceKeys}
        />
      )),
      busy,
    );
  });

  app.post("/backups/run", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const form = await c.req.parseBody();
    const target = typeof form.target === "string" ? form.target : undefined;
    const result = await page.api.post<{ started: string[]; running: string[] }>(
      "/v1/backups/run",
      {
        ...(target ? { target } : {}),
      },
    );
    const list = (names: string[]) => new Intl.ListFormat(language).format(names);
    return page.back(
      "backups",
      result,
      result.ok
        ? result.data.started.length > 0
          ? t.backups.started({ targets: list(result.data.started) })
          : t.backups.alreadyRunning({ targets: list(result.data.running) })
        : "",
    );
  });

  app.post("/backups/verify", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const form = await c.req.parseBody();
    const target = String(form.target ?? "");
    const result = await page.api.post<{ started: boolean }>("/v1/backups/verify", { target });
    return page.back(
      "backups",
      result,
      result.ok && result.data.started
        ? t.backups.verifying({ target })
        : t.backups.busy({ target }),
    );
  });

  app.post("/backups/key", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    if (!secureConnection(c.req.url)) return page.refuse("backups", t.backups.keyInsecure);
    const form = await c.req.parseBody();
    const result = await page.api.post<{ device: string; written: boolean }>("/v1/backups/key", {
      phrase: String(form.phrase ?? ""),
    });
    return page.back(
      "backups",
      result,
      result.ok ? t.backups.keyGiven({ device: result.data.device }) : "",
    );
  });

  app.post("/backups/ssh-key", async (c) => {
    const page = pageOf(c);
    const result = await page.api.post("/v1/backups/ssh-key");
    return page.back("backups", result, page.locale.t.backups.keyMade);
  });

  // An SFTP server is looked at first: its host key is shown, to be accepted.
  app.post("/backups/targets/check", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const form = await c.req.parseBody();
    const name = String(form.name ?? "").trim();
    const url = String(form.url ?? "").trim();
    if (!url.startsWith("sftp://")) return addTarget(page, name, url, undefined);
    const [probe, key] = await Promise.all([
      page.api.post<SftpProbe>("/v1/backups/targets/probe", { url }),
      page.api.get<{ publicKey: string | null }>("/v1/backups/ssh-key"),
    ]);
    if (!probe.ok) return page.back("backups", probe, "");
    return page.render(
      "backups",
      t.backups.checkTitle,
      <>
        <p>{t.backups.presents({ server: new URL(url).host })}</p>
        <p class="key" id="fingerprint">
          {probe.data.fingerprint}
        </p>
        <p class="hint">{t.backups.hostKeyHint}</p>
        {probe.data.login === "refused" ? (
          <>
            <p class="warn">
              {t.backups.loginRefused({ user: decodeURIComponent(new URL(url).username) })}
            </p>
            <pre id="ssh-key">{key.ok ? key.data.publicKey : ""}</pre>
            <div class="actions">
              <CopyButton target="ssh-key" />
              <Action
                action={href("backups/targets/check")}
                label={t.backups.checkAgain}
                fields={{ name, url }}
              />
            </div>
          </>
        ) : (
          <div class="actions">
            <Action
              action={href("backups/targets/add")}
              label={t.backups.acceptKey}
              fields={{ name, url, hostKey: probe.data.hostKey }}
            />
            <a class="button secondary" href={href("backups")}>
              {t.common.cancel}
            </a>
          </div>
        )}
      </>,
    );
  });

  app.post("/backups/targets/add", async (c) => {
    const page = pageOf(c);
    const form = await c.req.parseBody();
    return addTarget(
      page,
      String(form.name ?? "").trim(),
      String(form.url ?? "").trim(),
      typeof form.hostKey === "string" ? form.hostKey : undefined,
    );
  });

  app.post("/backups/targets/:name/remove", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("name");
    const result = await page.api.delete(`/v1/backups/targets/${enc(name)}`);
    return page.back("backups", result, page.locale.t.backups.removed({ target: name }));
  });

  app.get("/backups/t/:target", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const target = c.req.param("target");
    const snapshots = await page.api.get<{
      snapshots: Snapshot[];
      missingLatest: SaidLatest[];
    }>(`/v1/backups/${enc(target)}/snapshots`);
    return page.render(
      "backups",
      t.backups.snapshotsIn({ target }),
      <>
        {shown(snapshots, (data) => (
          <>
            <MissingLatest target={target} missing={data.missingLatest} />
            <SnapshotList target={target} snapshots={data.snapshots} />
          </>
        ))}
        <p>
          <a href={href("backups")}>{t.backups.back}</a>
        </p>
      </>,
    );
  });

  app.get("/backups/t/:target/s/:snapshot", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const { target, snapshot } = c.req.param();
    const path = c.req.query("path") ?? "";
    const listing = await page.api.get<SnapshotListing>(
      `/v1/backups/${enc(target)}/snapshots/${enc(snapshot)}/files?path=${enc(path)}`,
    );
    return page.render(
      "backups",
      t.backups.inside({ snapshot: snapshot.slice(0, 8) }),
      shown(listing, (data) => <Browse target={target} listing={data} />),
    );
  });

  app.get("/backups/t/:target/s/:snapshot/download", async (c) => {
    const page = pageOf(c);
    const { target, snapshot } = c.req.param();
    const path = c.req.query("path") ?? "";
    const answer = await page.api.raw(
      `/v1/backups/${enc(target)}/snapshots/${enc(snapshot)}/file?path=${enc(path)}`,
    );
    if (!answer.ok) {
      const error = ((await answer.json()) as { error: { code: string; message: string } }).error;
      return page.back(`backups/t/${enc(target)}/s/${enc(snapshot)}`, { ok: false, error }, "");
    }
    const name = decodeURIComponent(answer.headers.get("x-bucky-name") ?? "file");
    const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
    return new Response(answer.body, {
      headers: {
        "content-type": "application/octet-stream",
        "content-length": answer.headers.get("content-length") ?? "",
        "content-disposition": `attachment; filename="${ascii}"; filename*=UTF-8''${enc(name)}`,
        "cache-control": "no-store",
      },
    });
  });

  app.post("/backups/t/:target/s/:snapshot/restore", async (c) => {
    const page = pageOf(c);
    const { target, snapshot } = c.req.param();
    const form = await c.req.parseBody();
    const path = String(form.path ?? "");
    const job = await page.api.post<JobView>(
      `/v1/backups/${enc(target)}/snapshots/${enc(snapshot)}/restore`,
      {
        path,
      },
    );
    if (!job.ok) {
      const folder = path.split("/").slice(0, -1).join("/");
      return page.back(`backups/t/${enc(target)}/s/${enc(snapshot)}?path=${enc(folder)}`, job, "");
    }
    return c.redirect(href(`jobs/${job.data.id}`), 303);
  });
}

async function addTarget(page: Page, name: string, url: string, hostKey: string | undefined) {
  const job = await page.api.post<JobView>("/v1/backups/targets", {
    name,
    url,
    ...(hostKey ? { hostKey } : {}),
  });
  if (!job.ok) return page.back("backups", job, "");
  return new Response(null, { status: 303, headers: { location: href(`jobs/${job.data.id}`) } });
}

/**
 * Whether a secret may be typed here: over HTTPS, or on this device itself (loopback),
 * never in the clear over a network.
 */
function secureConnection(url: string): boolean {
  const parsed = new URL(url);
  return (
    parsed.protocol === "https:" ||
    ["localhost", "127.0.0.1", "[::1]"].includes(parsed.hostname) ||
    parsed.hostname.startsWith("127.")
  );
}

const KeyForm: FC<{ secure: boolean }> = ({ secure }) => {
  const { t } = useLocale();
  return (
    <section aria-labelledby="key">
      <h2 id="key">{t.backups.keyTitle}</h2>
      <p>{t.backups.keyText}</p>
      {secure ? (
        <form class="stack" method="post" action={href("backups/key")}>
          <label>
            {t.backups.phrase}
            <textarea
              name="phrase"
              rows={3}
              required
              autocomplete="off"
              autocapitalize="none"
              spellcheck={false}
            />
          </label>
          <button type="submit">{t.backups.giveKey}</button>
        </form>
      ) : (
        <p class="warn">{t.backups.keyInsecure}</p>
      )}
    </section>
  );
};

/**
 * Every device's backups to every target, as the zone's status has them (each device's
 * signed facts): the same on every gateway, and still there with the device gone. None
 * when the status could not be read (the targets are shown all the same). With the name of
 * the device serving the page: what runs now is its own alone (its daemon's), and the
 * page says so.
 */
async function zoneBackups(page: Page): Promise<ZoneView> {
  const status = await page.api.get<ZoneStatus>("/v1/status");
  return status.ok
    ? { backups: status.data.backups, device: status.data.device.name }
    : { backups: [], device: "" };
}

interface ZoneView {
  readonly backups: readonly ZoneBackup[];
  readonly device: string;
}

/** Each device's last backup to a target, or its failure since, one line each. */
const LastBackups: FC<{ backups: readonly ZoneBackup[] }> = ({ backups }) => {
  const { t } = useLocale();
  if (backups.length === 0) return <Time iso={null} />;
  return (
    <>
      {backups.map((b) => (
        <div>
          {b.device}: <Time iso={b.lastBackup?.at} />
          {b.lastError && (!b.lastBackup || b.lastError.at > b.lastBackup.at) ? (
            <div class="warn">
              {t.backups.failedSaid({ device: b.device, message: b.lastError.message })}
            </div>
          ) : null}
        </div>
      ))}
    </>
  );
};

/** Each device's last verify of its backups to a target, one line each. */
const LastVerifies: FC<{ backups: readonly ZoneBackup[] }> = ({ backups }) => {
  const verified = backups.filter((b) => b.lastVerify !== null);
  if (verified.length === 0) return <Time iso={null} />;
  return (
    <>
      {verified.map((b) => (
        <div>
          {b.device}: <Time iso={b.lastVerify?.at} />{" "}
          <Tag value={b.lastVerify?.ok ? "sound" : "damaged"} />
        </div>
      ))}
    </>
  );
};

const Targets: FC<{
  targets: readonly BackupTarget[];
  zone: ZoneView;
  holdsKey: boolean;
  acts: boolean;
}> = ({ targets, zone, holdsKey, acts }) => {
  const { t } = useLocale();
  const of = (target: BackupTarget) => zone.backups.filter((b) => b.target === target.name);
  if (targets.length === 0)
    return (
      <p class="warn">
        {t.backups.noTarget} <a href="#add">{t.notes.addTarget}</a>
      </p>
    );
  return (
    <Cards
      rows={targets}
      columns={[
        {
          label: t.backups.target,
          cell: (target) => (
            <>
              <strong>{target.name}</strong>
              <div class="muted">{target.url}</div>
              <div class="muted">
                {target.reach === "through"
                  ? t.backups.through({ device: target.via ?? "" })
                  : t.backups.direct}
              </div>
              {target.hostKey ? <HostKey hostKey={target.hostKey} /> : null}
            </>
          ),
        },
        {
          label: t.backups.lastBackup,
          cell: (target) => <LastBackups backups={of(target)} />,
        },
        {
          label: t.backups.lastVerify,
          cell: (target) => <LastVerifies backups={of(target)} />,
        },
        {
          label: t.backups.now({ device: zone.device }),
          cell: (target) =>
            target.running ? (
              <>
                <p>{t.backups.runningKind[target.running.kind]}</p>
                <Progress
                  progress={target.running.progress}
                  label={t.backups.runningKind[target.running.kind]}
                />
              </>
            ) : (
              <span class="muted">{t.backups.idle}</span>
            ),
        },
        {
          label: "",
          cell: (target) => (
            <div class="actions">
              {acts && holdsKey ? (
                <>
                  <Action
                    action={href("backups/run")}
                    label={t.backups.backUpNow}
                    fields={{ target: target.name }}
                  />
                  <Action
                    action={href("backups/verify")}
                    label={t.backups.verifyNow}
                    secondary={true}
                    fields={{ target: target.name }}
                  />
                  <a class="button secondary" href={href(`backups/t/${enc(target.name)}`)}>
                    {t.backups.snapshots}
                  </a>
                </>
              ) : null}
              {acts ? (
                <Confirm
                  summary={t.backups.removeOpen}
                  text={t.backups.removeText({ target: target.name })}
                  action={href(`backups/targets/${enc(target.name)}/remove`)}
                  label={t.backups.remove({ target: target.name })}
                />
              ) : null}
            </div>
          ),
        },
      ]}
    />
  );
};

const HostKey: FC<{ hostKey: string }> = ({ hostKey }) => {
  const { t } = useLocale();
  const digest = new Bun.CryptoHasher("sha256")
    .update(Buffer.from(hostKey.split(/\s+/)[1] ?? "", "base64"))
    .digest("base64")
    .replace(/=+$/, "");
  return <div class="hint">{t.backups.hostKey({ fingerprint: `SHA256:${digest}` })}</div>;
};

const AddTarget: FC<{ sshPublicKey: string | null }> = ({ sshPublicKey }) => {
  const { t } = useLocale();
  return (
    <section aria-labelledby="add">
      <h2 id="add">{t.backups.addTitle}</h2>
      <p class="hint">{t.backups.addText}</p>
      <h3>{t.backups.dirTitle}</h3>
      <form class="stack" method="post" action={href("backups/targets/add")}>
        <label>
          {t.backups.name}
          <input
            type="text"
            name="name"
            required
            pattern="[a-z0-9][a-z0-9-]{0,31}"
            autocomplete="off"
            placeholder="usb"
          />
        </label>
        <label>
          {t.backups.directory}
          <input type="text" name="url" required autocomplete="off" placeholder="/mnt/usb/bucky" />
        </label>
        <button type="submit">{t.backups.add}</button>
      </form>
      <h3>{t.backups.sftpTitle}</h3>
      {sshPublicKey ? (
        <>
          <p>{t.backups.sshKeyText}</p>
          <pre id="device-key">{sshPublicKey}</pre>
          <div class="actions">
            <CopyButton target="device-key" />
          </div>
        </>
      ) : (
        <>
          <p>{t.backups.noSshKey}</p>
          <p>
            <Action action={href("backups/ssh-key")} label={t.backups.makeKey} secondary={true} />
          </p>
        </>
      )}
      <form class="stack" method="post" action={href("backups/targets/check")}>
        <label>
          {t.backups.name}
          <input
            type="text"
            name="name"
            required
            pattern="[a-z0-9][a-z0-9-]{0,31}"
            autocomplete="off"
            placeholder="offsite"
          />
        </label>
        <label>
          {t.backups.server}
          <input
            type="text"
            name="url"
            required
            pattern="sftp://.+"
            autocomplete="off"
            placeholder="sftp://me@backup.example.com/srv/bucky"
          />
        </label>
        <button type="submit">{t.backups.check}</button>
      </form>
    </section>
  );
};

/**
 * A snapshot's time, in the viewer's language: what its writer said (any holder of the
 * backup key, or a member in its facts), so a time that is no time is shown as said.
 */
function snapshotTime(language: string): (time: string) => string {
  const day = new Intl.DateTimeFormat(language, {
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
  return (time) => {
    const at = new Date(time);
    return Number.isNaN(at.getTime()) ? time : day.format(at);
  };
}

/**
 * The devices' last backups (as each said it in its signed facts) the target holds neither
 * of nor any later one, as `bucky backup list` says them: the target is off the zone, and
 * what it lists of those devices is older than what they backed up.
 */
const MissingLatest: FC<{ target: string; missing: readonly SaidLatest[] }> = ({
  target,
  missing,
}) => {
  const { t, language } = useLocale();
  const when = snapshotTime(language);
  return (
    <>
      {missing.map((m) => (
        <p class="warn" role="alert">
          {t.backups.missingLatest({
            device: m.device,
            snapshot: m.snapshot.slice(0, 8),
            time: when(m.at),
            target,
          })}
        </p>
      ))}
    </>
  );
};

const SnapshotList: FC<{ target: string; snapshots: readonly Snapshot[] }> = ({
  target,
  snapshots,
}) => {
  const { t, language } = useLocale();
  if (snapshots.length === 0) return <p class="muted">{t.backups.noSnapshots}</p>;
  const when = snapshotTime(language);
  const bars: Bar[] = snapshots.slice(-30).map((s) => ({
    label: t.backups.snapshotOf({ device: s.device, time: when(s.time) }),
    value: s.bytes,
  }));
  return (
    <>
      <BarChart title={t.charts.snapshotSizes} bars={bars} format={formatBytes} />
      <Cards
        rows={[...snapshots].reverse()}
        columns={[
          { label: t.backups.taken, cell: (s) => <Time iso={s.time} /> },
          { label: t.backups.device, cell: (s) => s.device },
          { label: t.backups.files, cell: (s) => t.backups.fileCount({ count: s.files }) },
          { label: t.backups.size, cell: (s) => formatBytes(s.bytes) },
          { label: t.backups.added, cell: (s) => formatBytes(s.addedBytes) },
          {
            label: t.backups.signedBy,
            cell: (s) =>
              s.trust === "signed" ? (
                (s.signedBy ?? t.backups.signedByNobody)
              ) : (
                <>
                  {s.signedBy ?? t.backups.signedByNobody}{" "}
                  <strong class="warn">{t.backups.untrusted[s.trust]}</strong>{" "}
                  <span class="muted">{t.backups.leftOutOfRestores}</span>
                </>
              ),
          },
          {
            label: "",
            cell: (s) => (
              <a class="button secondary" href={href(`backups/t/${enc(target)}/s/${enc(s.id)}`)}>
                {t.backups.lookInside({ snapshot: s.id.slice(0, 8) })}
              </a>
            ),
          },
        ]}
      />
    </>
  );
};

const Browse: FC<{ target: string; listing: SnapshotListing }> = ({ target, listing }) => {
  const { t } = useLocale();
  const base = `backups/t/${enc(target)}/s/${enc(listing.snapshot.id)}`;
  const parts = listing.path.split("/").filter(Boolean);
  const restorable = (path: string) => {
    const depth = path.split("/").length;
    return path.startsWith("apps/") ? depth >= 4 : path.startsWith("data/") && depth >= 2;
  };
  const label = (name: string, depth: number) =>
    depth === 0 && name === "apps"
      ? t.backups.appsData
      : depth === 0 && name === "data"
        ? t.backups.userData
        : name;
  return (
    <>
      <p class="muted">
        {t.backups.snapshotBy({ device: listing.snapshot.device })}{" "}
        <Time iso={listing.snapshot.time} />
      </p>
      {listing.snapshot.trust === "signed" ? null : (
        <p class="warn">
          {t.backups.untrusted[listing.snapshot.trust]}
          {listing.snapshot.mayPutBack ? null : listing.snapshot.trust === "unsigned" ? (
            <> {t.backups.unsignedNotPutBack}</>
          ) : (
            <> {t.backups.notPutBack}</>
          )}
        </p>
      )}
      <nav aria-label={t.backups.where}>
        <ol class="crumbs">
          <li>
            <a href={href(base)}>{t.backups.top}</a>
          </li>
          {parts.map((part, i) => (
            <li>
              <a href={href(`${base}?path=${enc(parts.slice(0, i + 1).join("/"))}`)}>
                {label(part, i)}
              </a>
            </li>
          ))}
        </ol>
      </nav>
      {listing.entries.length === 0 ? (
        <p class="muted">{t.backups.empty}</p>
      ) : (
        <Cards
          rows={listing.entries}
          columns={[
            {
              label: t.backups.name,
              cell: (e: SnapshotEntry) => {
                const path = [...parts, e.name].join("/");
                return e.type === "dir" ? (
                  <a href={href(`${base}?path=${enc(path)}`)}>{label(e.name, parts.length)}</a>
                ) : (
                  <span>{e.name}</span>
                );
              },
            },
            { label: t.backups.size, cell: (e) => (e.size === null ? "" : formatBytes(e.size)) },
            { label: t.backups.modified, cell: (e) => <Time iso={e.modifiedAt} /> },
            {
              label: "",
              cell: (e) => {
                const path = [...parts, e.name].join("/");
                return (
                  <div class="actions">
                    {e.type === "file" ? (
                      <a
                        class="button secondary"
                        href={href(`${base}/download?path=${enc(path)}`)}
                        download={e.name}
                      >
                        {t.backups.download({ name: e.name })}
                      </a>
                    ) : null}
                    {listing.snapshot.mayPutBack && restorable(path) && e.type !== "symlink" ? (
                      <Action
                        action={href(`${base}/restore`)}
                        label={t.backups.restore({ name: e.name })}
                        secondary={true}
                        fields={{ path }}
                      />
                    ) : null}
                  </div>
                );
              },
            },
          ]}
        />
      )}
      <p class="hint">{t.backups.restoreHint}</p>
    </>
  );
};
