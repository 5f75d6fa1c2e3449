/**
 * The app store: every app the zone's catalogs list (the built-in one first), searchable,
 * each with its icon, what it is and what it needs, installed in one tap (the install is
 * a job this panel follows live), and updated the same way when its catalog has a newer
 * version. Catalogs are added by address or file: the panel reads it first and shows its
 * publisher's key, and adds it only once that key is accepted.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import { textIn } from "../../protocol/catalog.ts";
import { CATALOG_FILE_BYTES } from "../catalog/catalog-archive.ts";
import type { CatalogPreview } from "../catalog/catalogs.ts";
import type { StoreApp, StoreView } from "../catalog/store-view.ts";
import { BuckyError } from "../errors.ts";
import type { JobView } from "../node/jobs.ts";
import type { DeviceView } from "../zone/devices.ts";
import { DeviceSelect } from "./apps.tsx";
import { Action, Cards, Confirm, shown, Tag, Time, useLocale } from "./components.tsx";
import { FormParts, MAX_FORM_BYTES } from "./form-parts.ts";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

const ICON_TYPES: readonly [string, (bytes: Uint8Array) => boolean][] = [
  ["image/png", (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47],
  ["image/webp", (b) => String.fromCharCode(...b.subarray(8, 12)) === "WEBP"],
  [
    "image/svg+xml",
    (b) =>
      /^\s*(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<svg[\s>]/i.test(
        new TextDecoder().decode(b.subarray(0, 512)),
      ),
  ],
];

export function storePages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/store", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const query = (c.req.query("q") ?? "").trim();
    const store = await page.api.get<StoreView>(
      `/v1/store${query ? `?q=${encodeURIComponent(query)}` : ""}`,
    );
    return page.render(
      "store",
      t.nav.store,
      <>
        <search>
          <form class="search" method="get" action={href("store")}>
            <label class="visually-hidden" for="q">
              {t.store.search}
            </label>
            <input
              id="q"
              type="search"
              name="q"
              value={query}
              placeholder={t.store.searchPlaceholder}
            />
            <button type="submit">{t.store.search}</button>
          </form>
        </search>
        {shown(store, (data) =>
          data.apps.length === 0 ? (
            <p class="muted">{query ? t.store.nothingFound({ query }) : t.store.empty}</p>
          ) : (
            <StoreGrid apps={data.apps} catalogs={data.catalogs} />
          ),
        )}
        <p>
          <a class="button secondary" href={href("store/catalogs")}>
            {t.store.manageCatalogs}
          </a>
        </p>
      </>,
    );
  });

  app.get("/store/app/:catalog/:app", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const { catalog, app: id } = c.req.param();
    const [detail, devices, store] = await Promise.all([
      page.api.get<{ app: StoreApp; descriptions: Record<string, string> }>(
        `/v1/store/apps/${encodeURIComponent(catalog)}/${encodeURIComponent(id)}`,
      ),
      page.api.get<{ devices: DeviceView[] }>("/v1/devices"),
      page.api.get<StoreView>("/v1/store"),
    ]);
    const names = devices.ok
      ? devices.data.devices.filter((d) => d.status !== "revoked").map((d) => d.name)
      : [];
    const catalogTitle = store.ok
      ? store.data.catalogs.find((k) => k.name === catalog)?.title
      : undefined;
    const title = detail.ok ? textIn(detail.data.app.title, language) : id;
    return page.render(
      "store",
      title,
      shown(detail, ({ app: entry, descriptions }) => {
        const text = descriptionIn(descriptions, language);
        return (
          <>
            <div class="card">
              <div class="head">
                {entry.icon ? <Icon app={entry} big={true} /> : null}
                <div>
                  <p>{textIn(entry.summary, language)}</p>
                  <p class="muted">
                    {t.store.versionFrom({
                      version: entry.version,
                      catalog: catalogTitle ? textIn(catalogTitle, language) : catalog,
                    })}
                  </p>
                </div>
              </div>
              <InstallState app={entry} devices={names} />
            </div>
            {text ? (
              <>
                <h2>{t.store.about}</h2>
                {text.split(/\n\s*\n/).map((paragraph) => (
                  <p>{paragraph}</p>
                ))}
              </>
            ) : null}
            <h2>{t.store.needsTitle}</h2>
            <Needs app={entry} long={true} />
          </>
        );
      }),
    );
  });

  // An icon as its catalog holds it, as an image only: it can run nothing, here or opened alone.
  app.get("/store/icon/:catalog/:app", async (c) => {
    const page = pageOf(c);
    const answer = await page.api.raw(
      `/v1/store/icons/${encodeURIComponent(c.req.param("catalog"))}/${encodeURIComponent(c.req.param("app"))}`,
    );
    if (!answer.ok) return new Response(null, { status: 404 });
    const bytes = new Uint8Array(await answer.arrayBuffer());
    const type = ICON_TYPES.find(([, test]) => test(bytes))?.[0];
    if (!type) return new Response(null, { status: 415 });
    return new Response(bytes, {
      headers: {
        "content-type": type,
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "cache-control": "private, max-age=3600",
      },
    });
  });

  app.post("/store/install", async (c) => {
    const page = pageOf(c);
    const form = await c.req.parseBody();
    const catalog = String(form.catalog ?? "");
    const appId = String(form.app ?? "");
    const device = typeof form.device === "string" && form.device ? form.device : undefined;
    const job = await page.api.post<JobView>("/v1/store/install", {
      catalog,
      app: appId,
      ...(device ? { device } : {}),
    });
    if (!job.ok)
      return page.back(
        `store/app/${encodeURIComponent(catalog)}/${encodeURIComponent(appId)}`,
        job,
        "",
      );
    return c.redirect(href(`jobs/${job.data.id}`), 303);
  });

  app.get("/store/catalogs", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const store = await page.api.get<StoreView>("/v1/store");
    return page.render(
      "store",
      t.store.catalogsTitle,
      <>
        {shown(store, (data) => (
          <Cards
            rows={data.catalogs}
            columns={[
              {
                label: t.store.catalog,
                cell: (k) => (
                  <>
                    <strong>{textIn(k.title, language)}</strong>
                    <div class="muted">{k.name}</div>
                    {k.problem ? <div class="warn">{k.problem.message}</div> : null}
                  </>
                ),
              },
              {
                label: t.store.publisher,
                cell: (k) =>
                  k.publisher ? (
                    <code class="key">{groups(k.publisher)}</code>
                  ) : (
                    t.store.builtinPublisher
                  ),
              },
              { label: t.store.appCount, cell: (k) => t.store.apps({ count: k.apps }) },
              {
                label: t.store.updated,
                cell: (k) => (k.updatedAt ? <Time iso={k.updatedAt} /> : t.store.withBucky),
              },
              {
                label: "",
                cell: (k) =>
                  k.publisher ? (
                    <div class="actions">
                      {k.source ? (
                        <Action
                          action={href(`store/catalogs/${encodeURIComponent(k.name)}/refresh`)}
                          label={t.store.checkUpdates}
                          secondary={true}
                        />
                      ) : null}
                      <Confirm
                        summary={t.store.removeOpen}
                        text={t.store.removeText({ catalog: textIn(k.title, language) })}
                        action={href(`store/catalogs/${encodeURIComponent(k.name)}/remove`)}
                        label={t.store.remove}
                      />
                    </div>
                  ) : null,
              },
            ]}
          />
        ))}
        <h2 id="add">{t.store.addTitle}</h2>
        <p class="hint">{t.store.addText}</p>
        <form class="stack" method="post" action={href("store/catalogs/preview")}>
          <label>
            {t.store.address}
            <input type="url" name="source" required placeholder="https://…" autocomplete="off" />
          </label>
          <button type="submit">{t.store.read}</button>
        </form>
        <form
          class="stack"
          method="post"
          action={href("store/catalogs/preview-file")}
          enctype="multipart/form-data"
        >
          <label>
            {t.store.file}
            <input
              type="file"
              name="file"
              required
              accept=".tar,.tgz,.tar.gz,application/x-tar,application/gzip"
            />
          </label>
          <button type="submit">{t.store.read}</button>
        </form>
      </>,
    );
  });

  const preview = async (page: Page, answer: Awaited<ReturnType<Page["api"]["post"]>>) => {
    const { t, language } = page.locale;
    if (!answer.ok) return page.back("store/catalogs", answer, "");
    const p = answer.data as CatalogPreview;
    return page.render(
      "store",
      t.store.previewTitle,
      <>
        <p>
          {t.store.previewText({
            title: textIn(p.title, language),
            count: p.apps,
            version: p.version,
          })}
        </p>
        <p>{t.store.publisherKey}</p>
        <p class="key" id="publisher">
          {groups(p.publisher)}
        </p>
        <p class="hint">{t.store.publisherHint}</p>
        {p.existing && p.existing.publisher !== p.publisher ? (
          <p class="warn" role="alert">
            {t.store.otherPublisher({ catalog: p.name })}
          </p>
        ) : p.existing ? (
          <p>{t.store.replaces({ version: p.existing.version })}</p>
        ) : null}
        <div class="actions">
          <Action
            action={href("store/catalogs/accept")}
            label={t.store.accept}
            fields={{ token: p.token, publisher: p.publisher }}
          />
          <a class="button secondary" href={href("store/catalogs")}>
            {t.common.cancel}
          </a>
        </div>
      </>,
    );
  };

  app.post("/store/catalogs/preview", async (c) => {
    const page = pageOf(c);
    const form = await c.req.parseBody();
    return preview(
      page,
      await page.api.post("/v1/store/catalogs/preview", { source: String(form.source ?? "") }),
    );
  });

  // The file goes on to the local API, and its unpacking, as it arrives.
  app.post("/store/catalogs/preview-file", async (c) => {
    const page = pageOf(c);
    let answer: Awaited<ReturnType<Page["api"]["post"]>> | undefined;
    try {
      const parts = new FormParts(c.req.raw, CATALOG_FILE_BYTES + MAX_FORM_BYTES);
      try {
        for (let part = await parts.next(); part && !answer; part = await parts.next())
          if (part.name === "file" && part.filename)
            answer = await page.api.upload("/v1/store/catalogs/preview-file", parts.bodyStream());
      } finally {
        await parts.close();
      }
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      answer = { ok: false, error: error.toJSON() };
    }
    if (!answer) return page.refuse("store/catalogs", page.locale.t.store.chooseFile);
    return preview(page, answer);
  });

  app.post("/store/catalogs/accept", async (c) => {
    const page = pageOf(c);
    const form = await c.req.parseBody();
    const result = await page.api.post<{ name: string; version: number }>("/v1/store/catalogs", {
      token: String(form.token ?? ""),
      publisher: String(form.publisher ?? ""),
    });
    return page.back(
      "store/catalogs",
      result,
      result.ok
        ? page.locale.t.store.added({ catalog: result.data.name, version: result.data.version })
        : "",
    );
  });

  app.post("/store/catalogs/:name/refresh", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const name = c.req.param("name");
    const result = await page.api.post<{ updated: boolean; record: { version: number } }>(
      `/v1/store/catalogs/${encodeURIComponent(name)}/refresh`,
    );
    return page.back(
      "store/catalogs",
      result,
      result.ok
        ? result.data.updated
          ? t.store.refreshed({ catalog: name, version: result.data.record.version })
          : t.store.upToDate({ catalog: name })
        : "",
    );
  });

  app.post("/store/catalogs/:name/remove", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("name");
    const result = await page.api.delete(`/v1/store/catalogs/${encodeURIComponent(name)}`);
    return page.back("store/catalogs", result, page.locale.t.store.removed({ catalog: name }));
  });
}

const StoreGrid: FC<{ apps: readonly StoreApp[]; catalogs: StoreView["catalogs"] }> = ({
  apps,
  catalogs,
}) => {
  const { language } = useLocale();
  const titles = new Map(catalogs.map((k) => [k.name, k.title]));
  return (
    <ul class="grid">
      {apps.map((entry) => (
        <li class="card">
          <div class="head">
            {entry.icon ? <Icon app={entry} big={false} /> : null}
            <div>
              <h3>
                <a
                  href={href(
                    `store/app/${encodeURIComponent(entry.catalog)}/${encodeURIComponent(entry.id)}`,
                  )}
                >
                  {textIn(entry.title, language)}
                </a>
              </h3>
              <span class="muted">
                {textIn(titles.get(entry.catalog) ?? { en: entry.catalog }, language)}
              </span>
            </div>
          </div>
          <p>{textIn(entry.summary, language)}</p>
          <Needs app={entry} long={false} />
          <InstallState app={entry} devices={undefined} />
        </li>
      ))}
    </ul>
  );
};

const Icon: FC<{ app: StoreApp; big: boolean }> = ({ app, big }) => (
  <img
    class={big ? "icon big" : "icon"}
    src={href(`store/icon/${encodeURIComponent(app.catalog)}/${encodeURIComponent(app.id)}`)}
    alt=""
    width={big ? 72 : 48}
    height={big ? 72 : 48}
  />
);

/** What an app needs, as tags (in a list) or sentences (on its own page). */
const Needs: FC<{ app: StoreApp; long: boolean }> = ({ app, long }) => {
  const { t } = useLocale();
  const n = app.needs;
  const items = [
    n.kind === "image" ? t.store.needs.image : t.store.needs.process,
    n.data ? t.store.needs.data : t.store.needs.noData,
    n.network ? t.store.needs.network : t.store.needs.noNetwork,
    n.public ? t.store.needs.public : t.store.needs.zoneOnly,
  ];
  if (!long)
    return (
      <ul class="needs" aria-label={t.store.needsTitle}>
        {items.map((item) => (
          <li class="tag">{item}</li>
        ))}
      </ul>
    );
  const words = t.store.permissions as Record<string, string>;
  return (
    <ul>
      {items.map((item) => (
        <li>{item}</li>
      ))}
      {n.permissions.map((permission) => (
        <li>{words[permission] ?? t.store.permissionOther({ permission })}</li>
      ))}
    </ul>
  );
};

/** Install, installed, or update: what one tap does for this app. */
const InstallState: FC<{ app: StoreApp; devices: readonly string[] | undefined }> = ({
  app,
  devices,
}) => {
  const { t, language } = useLocale();
  const title = textIn(app.title, language);
  if (app.notInstallable)
    return (
      <p class="muted">
        {app.notInstallable === "image" ? t.store.imageNotYet : t.store.newerBucky}
      </p>
    );
  const form = (label: string) => (
    <form class="stack" method="post" action={href("store/install")}>
      <input type="hidden" name="catalog" value={app.catalog} />
      <input type="hidden" name="app" value={app.id} />
      {devices && devices.length > 1 ? <DeviceSelect names={devices} /> : null}
      <button type="submit">{label}</button>
    </form>
  );
  if (app.update)
    return (
      <>
        <p>{t.store.installedVersion({ version: app.installed?.version ?? "" })}</p>
        {form(t.store.update({ app: title, version: app.version }))}
      </>
    );
  if (app.installed)
    return (
      <div class="actions">
        <Tag value="installed" />
        <a class="button secondary" href={href(`apps/${encodeURIComponent(app.id)}`)}>
          {t.apps.manage({ app: title })}
        </a>
      </div>
    );
  return form(t.store.install({ app: title }));
};

/** A publisher id in groups of four, so a person can compare it by eye. */
function groups(id: string): string {
  return id.replace(/(.{4})(?=.)/g, "$1 ");
}

function descriptionIn(
  descriptions: Readonly<Record<string, string>>,
  language: string,
): string | undefined {
  return (
    descriptions[language] ?? descriptions[language.split("-")[0] as string] ?? descriptions.en
  );
}
