/**
 * The zone's apps: each one's state and where it runs, with what can be done to it (open,
 * stop, start, update from its catalog, move to another device with its data, set its
 * limits, share it, bring back a conflict copy of its data, remove it), its recent
 * output; and installing one from a file, beside the store.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import { MAX_APP_ARCHIVE_BYTES } from "../apps/app-archive.ts";
import type { AppStatus } from "../apps/status.ts";
import type { StoreView } from "../catalog/store-view.ts";
import { BuckyError } from "../errors.ts";
import type { LimitsAnswer } from "../gateway/app-limits.ts";
import { listOf } from "../i18n/format.ts";
import type { ApiResult } from "../node/local-client.ts";
import type { DeviceView } from "../zone/devices.ts";
import { AppCards, type AppExtras, AppProblem } from "./app-cards.tsx";
import { Action, Confirm, shown, Tag, Time, useLocale } from "./components.tsx";
import { FormParts, MAX_FORM_BYTES } from "./form-parts.ts";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

interface Limits {
  readonly rps?: number;
  readonly bandwidthBytesPerSecond?: number;
}

export function appPages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  /** The apps with their icons and updates (from the store), and whether any is on its way up. */
  const appsView = async (page: Page) => {
    const [apps, store] = await Promise.all([
      page.api.get<{ apps: AppStatus[] }>("/v1/apps"),
      page.api.get<StoreView>("/v1/store"),
    ]);
    const extras = new Map<string, AppExtras>();
    if (store.ok)
      for (const entry of store.data.apps) {
        const known = extras.get(entry.id) ?? {};
        const mine = entry.installed?.from === entry.catalog;
        extras.set(entry.id, {
          ...known,
          ...(entry.icon && (mine || !known.icon)
            ? {
                icon: href(
                  `store/icon/${encodeURIComponent(entry.catalog)}/${encodeURIComponent(entry.id)}`,
                ),
              }
            : {}),
          ...(entry.update ? { update: { catalog: entry.catalog, version: entry.version } } : {}),
        });
      }
    const busy = apps.ok && apps.data.apps.some(onItsWay);
    return { apps, extras, busy };
  };
  const appsPart = (apps: ApiResult<{ apps: AppStatus[] }>, extras: Map<string, AppExtras>) =>
    shown(apps, (data) => <AppCards apps={data.apps} extras={extras} />);

  app.get("/apps", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const { apps, extras, busy } = await appsView(page);
    const devices = await deviceNames(page);
    return page.render(
      "apps",
      t.nav.apps,
      <>
        <p>
          <a class="button" href={href("store")}>
            {t.apps.browseStore}
          </a>
        </p>
        <div data-live={busy ? href("apps/live") : undefined} aria-busy={busy ? "true" : undefined}>
          {appsPart(apps, extras)}
        </div>
        <details>
          <summary>{t.apps.fromFile}</summary>
          <form
            class="stack"
            method="post"
            action={href("apps/install")}
            enctype="multipart/form-data"
          >
            {/* First: the archive is passed on as it arrives, to the device chosen. */}
            <DeviceSelect names={devices} />
            <label>
              {t.apps.archive}
              <input
                type="file"
                name="archive"
                accept=".tar,.tgz,.tar.gz,application/x-tar,application/gzip"
              />
            </label>
            <label>
              {t.apps.packageId}
              <input type="text" name="package" placeholder="clist:… sha256:…" autocomplete="off" />
            </label>
            <button type="submit">{t.apps.install}</button>
          </form>
        </details>
      </>,
      { live: busy },
    );
  });

  app.get("/apps/live", async (c) => {
    const page = pageOf(c);
    const { apps, extras, busy } = await appsView(page);
    return page.part(appsPart(apps, extras), busy);
  });

  // The archive goes on to the local API as it arrives (the form sends the device first).
  app.post("/apps/install", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    let result: ApiResult<{ app: string; version: string }> | undefined;
    try {
      const parts = new FormParts(c.req.raw, MAX_APP_ARCHIVE_BYTES + MAX_FORM_BYTES);
      try {
        let device: string | undefined;
        for (let part = await parts.next(); part && !result; part = await parts.next()) {
          if (part.name === "device") device = (await parts.text(MAX_FORM_BYTES)) || undefined;
          // A file input with no file chosen sends a part with an empty name.
          if (part.name === "archive" && part.filename) {
            const query = device ? `?device=${encodeURIComponent(device)}` : "";
            result = await page.api.upload(`/v1/apps/archive${query}`, parts.bodyStream());
          }
          if (part.name === "package") {
            const id = (await parts.text(MAX_FORM_BYTES)).trim();
            if (id)
              result = await page.api.post("/v1/apps", {
                package: id,
                ...(device ? { device } : {}),
              });
          }
        }
      } finally {
        await parts.close();
      }
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      result = { ok: false, error: error.toJSON() };
    }
    if (!result) return page.refuse("apps", t.apps.chooseFile);
    return page.back(
      "apps",
      result,
      result.ok ? t.apps.installed({ app: result.data.app, version: result.data.version }) : "",
    );
  });

  for (const verb of ["start", "stop", "remove"] as const) {
    app.post(`/apps/:app/${verb}`, async (c) => {
      const page = pageOf(c);
      const { t } = page.locale;
      const name = c.req.param("app");
      const path = `/v1/apps/${encodeURIComponent(name)}`;
      const result =
        verb === "remove" ? await page.api.delete(path) : await page.api.post(`${path}/${verb}`);
      const done =
        verb === "start"
          ? t.apps.willStart({ app: name })
          : verb === "stop"
            ? t.apps.willStop({ app: name })
            : t.apps.removed({ app: name });
      return page.back(
        verb === "remove" ? "apps" : `apps/${encodeURIComponent(name)}`,
        result,
        done,
      );
    });
  }

  app.get("/apps/:app", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("app");
    const encoded = encodeURIComponent(name);
    const [status, logs, limits, store, devices] = await Promise.all([
      page.api.get<AppStatus>(`/v1/apps/${encoded}`),
      page.api.get<{ device: string; lines: string[] }>(`/v1/apps/${encoded}/logs?lines=50`),
      // In force: the owner's over the manifest's, which the form then shows.
      page.api.get<LimitsAnswer>(`/v1/apps/${encoded}/limits`),
      page.api.get<StoreView>("/v1/store"),
      deviceNames(page),
    ]);
    const update = store.ok ? store.data.apps.find((a) => a.id === name && a.update) : undefined;
    const busy = status.ok && onItsWay(status.data);
    return page.render(
      "apps",
      name,
      <>
        <div
          data-live={busy ? href(`apps/${encoded}/live`) : undefined}
          aria-busy={busy ? "true" : undefined}
        >
          {shown(status, (data) => (
            <AppState app={data} />
          ))}
        </div>
        {shown(status, (data) => (
          <AppActions
            app={data}
            devices={devices}
            limits={limits.ok ? limits.data.limits : {}}
            update={update ? { catalog: update.catalog, version: update.version } : undefined}
          />
        ))}
        <h2>{page.locale.t.apps.output}</h2>
        {shown(logs, ({ lines }) =>
          lines.length > 0 ? (
            <pre>{lines.join("\n")}</pre>
          ) : (
            <p class="muted">{page.locale.t.apps.noOutput}</p>
          ),
        )}
      </>,
      { live: busy },
    );
  });

  app.get("/apps/:app/live", async (c) => {
    const page = pageOf(c);
    const status = await page.api.get<AppStatus>(
      `/v1/apps/${encodeURIComponent(c.req.param("app"))}`,
    );
    return page.part(
      shown(status, (data) => <AppState app={data} />),
      status.ok && onItsWay(status.data),
    );
  });

  app.post("/apps/:app/move", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const to = typeof form.to === "string" ? form.to : "";
    const result = await page.api.post(`/v1/apps/${encodeURIComponent(name)}/move`, { to });
    return page.back(
      `apps/${encodeURIComponent(name)}`,
      result,
      page.locale.t.apps.moving({ app: name, device: to }),
    );
  });

  app.post("/apps/:app/limits", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const rps = typeof form.rps === "string" && form.rps.trim() ? Number(form.rps) : null;
    const mbps =
      typeof form.bandwidth === "string" && form.bandwidth.trim() ? Number(form.bandwidth) : null;
    // The form shows the limits in force: one left as the manifest has it, and not set over
    // it, stays the manifest's (a later version's then applies), not the owner's number.
    const now = await page.api.get<LimitsAnswer>(`/v1/apps/${encodeURIComponent(name)}/limits`);
    const asManifest = (limit: keyof Limits, value: number | null) =>
      now.ok && now.data.set[limit] === undefined && (now.data.manifest[limit] ?? null) === value;
    const result = await page.api.put(`/v1/apps/${encodeURIComponent(name)}/limits`, {
      rps: asManifest("rps", rps) ? "default" : rps,
      bandwidth: asManifest(
        "bandwidthBytesPerSecond",
        mbps === null ? null : Math.round(mbps * 1e6),
      )
        ? "default"
        : mbps === null
          ? null
          : `${mbps}MB/s`,
    });
    return page.back(
      `apps/${encodeURIComponent(name)}`,
      result,
      page.locale.t.apps.limitsSet({ app: name }),
    );
  });

  app.post("/apps/:app/share", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const names =
      typeof form.with === "string"
        ? form.with
            .split(/[,，、\s]+/)
            .map((n) => n.trim())
            .filter(Boolean)
        : [];
    const everyone = names.length === 0;
    const result = await page.api.put(`/v1/apps/${encodeURIComponent(name)}/share`, {
      with: everyone ? null : names,
    });
    return page.back(
      `apps/${encodeURIComponent(name)}`,
      result,
      everyone
        ? t.apps.sharedEveryone({ app: name })
        : t.apps.sharedWith({ app: name, whom: listOf(names, language) }),
    );
  });

  app.post("/apps/:app/restore-copy", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("app");
    const form = await c.req.parseBody();
    const result = await page.api.post(`/v1/apps/${encodeURIComponent(name)}/restore-copy`, {
      copy: String(form.copy ?? ""),
    });
    return page.back(
      `apps/${encodeURIComponent(name)}`,
      result,
      page.locale.t.apps.copyComing({ app: name }),
    );
  });
}

/** On its way up: placed, and pending or starting. */
function onItsWay(app: AppStatus): boolean {
  return (
    app.desired === "running" &&
    app.device !== null &&
    (app.state === "pending" || app.state === "starting")
  );
}

async function deviceNames(page: Page): Promise<string[]> {
  const devices = await page.api.get<{ devices: DeviceView[] }>("/v1/devices");
  return devices.ok
    ? devices.data.devices.filter((d) => d.status !== "revoked").map((d) => d.name)
    : [];
}

/** How the app stands: its state, where it runs, its data and its copies. */
const AppState: FC<{ app: AppStatus }> = ({ app }) => {
  const { t, language } = useLocale();
  const data = app.data;
  const holder = data?.holder?.device;
  return (
    <section>
      <p>
        <Tag value={app.state} />{" "}
        {app.device ? t.apps.runsOn({ device: app.device }) : t.apps.noDevice}{" "}
        <span class="muted">{t.apps.version({ version: app.version })}</span>
      </p>
      {app.error ? (
        <p class="warn">
          <AppProblem app={app} />
        </p>
      ) : null}
      {app.state === "running" ? (
        <p>
          <a class="button" href={`/apps/${encodeURIComponent(app.app)}/`}>
            {t.apps.openApp({ app: app.app })}
          </a>
        </p>
      ) : null}
      {data?.holder ? (
        <p>
          {t.apps.dataOn({ device: data.holder.device })}
          {data.standbys.length > 0
            ? ` ${t.apps.copiesOn({
                devices: listOf(
                  data.standbys.map((s) => s.device),
                  language,
                ),
              })}`
            : ` ${t.apps.noCopies}`}
        </p>
      ) : null}
      {data?.holder?.lostUnknownReason ? (
        <p class="warn">{t.apps.lostUnknown({ device: data.holder.device })}</p>
      ) : data?.holder?.lostAtMostMs ? (
        <p>
          {t.apps.lostAtMost({
            device: data.holder.device,
            seconds: Math.ceil(data.holder.lostAtMostMs / 1000),
          })}
        </p>
      ) : null}
      {holder ? data?.standbys.map((copy) => <CopyReadBack copy={copy} holder={holder} />) : null}
      {data?.movingTo ? <p>{t.apps.movingTo({ device: data.movingTo })}</p> : null}
      {data?.holder && data.takeover ? (
        <p class="warn">
          {t.apps.takeoverDue({
            holder: data.holder.device,
            by: data.takeover.by,
            silentSeconds:
              data.takeover.holderSilentMs === null
                ? null
                : Math.round(data.takeover.holderSilentMs / 1000),
          })}
        </p>
      ) : null}
    </section>
  );
};

/**
 * What a standby found when it last read its whole copy back, as it says (the same on
 * every device): damage it fetches again from the holder, or when it was last whole.
 */
const CopyReadBack: FC<{
  copy: NonNullable<AppStatus["data"]>["standbys"][number];
  holder: string;
}> = ({ copy, holder }) => {
  const { t } = useLocale();
  if (copy.damagedBlobs)
    return (
      <p class="warn">
        {t.apps.copyDamaged({ device: copy.device, blobs: copy.damagedBlobs, holder })}
      </p>
    );
  return (
    <p class="muted">
      {copy.verifiedAt ? (
        <>
          {t.apps.copyReadBack({ device: copy.device })} <Time iso={copy.verifiedAt} />
        </>
      ) : (
        t.apps.copyNotReadBack({ device: copy.device })
      )}
    </p>
  );
};

const AppActions: FC<{
  app: AppStatus;
  devices: readonly string[];
  limits: Limits;
  update: { catalog: string; version: string } | undefined;
}> = ({ app, devices, limits, update }) => {
  const { t } = useLocale();
  const encoded = encodeURIComponent(app.app);
  return (
    <>
      <div class="actions">
        {app.desired === "running" ? (
          <Action action={href(`apps/${encoded}/stop`)} label={t.apps.stop} secondary={true} />
        ) : (
          <Action action={href(`apps/${encoded}/start`)} label={t.apps.start} />
        )}
        {update ? (
          <Action
            action={href("store/install")}
            label={t.apps.updateTo({ version: update.version })}
            fields={{ catalog: update.catalog, app: app.app }}
          />
        ) : null}
      </div>
      <h2>{t.apps.moveTitle}</h2>
      <p class="hint">{t.apps.moveText}</p>
      <form class="stack" method="post" action={href(`apps/${encoded}/move`)}>
        <label>
          {t.apps.moveTo}
          <select name="to" required>
            {devices
              .filter((d) => d !== app.device)
              .map((d) => (
                <option value={d}>{d}</option>
              ))}
          </select>
        </label>
        <button type="submit">{t.apps.move}</button>
      </form>
      <h2>{t.apps.limitsTitle}</h2>
      <form class="stack" method="post" action={href(`apps/${encoded}/limits`)}>
        <label>
          {t.apps.rps}
          <input
            type="number"
            name="rps"
            min="1"
            step="1"
            inputmode="numeric"
            value={limits.rps ? String(limits.rps) : ""}
          />
        </label>
        <label>
          {t.apps.bandwidth}
          <input
            type="number"
            name="bandwidth"
            min="0.000001"
            step="any"
            inputmode="decimal"
            value={
              limits.bandwidthBytesPerSecond ? String(limits.bandwidthBytesPerSecond / 1e6) : ""
            }
          />
        </label>
        <p class="hint">{t.apps.limitsHint}</p>
        <button type="submit">{t.apps.setLimits}</button>
      </form>
      {app.exposure === "zone" ? <ShareForm app={app} /> : null}
      {app.data && app.data.conflicts.length > 0 ? (
        <>
          <h2>{t.apps.conflictsTitle}</h2>
          <p class="hint">{t.apps.conflictsText}</p>
          <ul>
            {app.data.conflicts.map((copy) => (
              <li>
                {t.apps.conflictCopy({ name: copy.name, device: copy.device })}{" "}
                <Action
                  action={href(`apps/${encoded}/restore-copy`)}
                  label={t.apps.bringBack}
                  secondary={true}
                  fields={{ copy: copy.name }}
                />
              </li>
            ))}
          </ul>
        </>
      ) : null}
      <h2>{t.apps.removeTitle}</h2>
      <Confirm
        summary={t.apps.removeOpen}
        text={t.apps.removeText({ app: app.app })}
        action={href(`apps/${encoded}/remove`)}
        label={t.apps.remove({ app: app.app })}
      />
    </>
  );
};

/** Whom a zone-only app is shared with, and a form to change it. */
const ShareForm: FC<{ app: AppStatus }> = ({ app }) => {
  const { t, language } = useLocale();
  return (
    <>
      <h2>{t.apps.shareTitle}</h2>
      <p>
        {app.shared
          ? t.apps.sharedWithNow({ whom: listOf(app.shared, language) })
          : t.apps.everyone}
      </p>
      <form class="stack" method="post" action={href(`apps/${encodeURIComponent(app.app)}/share`)}>
        <label>
          {t.apps.shareWith}
          <input type="text" name="with" value={app.shared?.join(", ") ?? ""} autocomplete="off" />
        </label>
        <button type="submit">{t.apps.share}</button>
      </form>
    </>
  );
};

export const DeviceSelect: FC<{ names: readonly string[] }> = ({ names }) => {
  const { t } = useLocale();
  return (
    <label>
      {t.apps.runOn}
      <select name="device">
        <option value="">{t.apps.anyDevice}</option>
        {names.map((name) => (
          <option value={name}>{name}</option>
        ))}
      </select>
    </label>
  );
};
