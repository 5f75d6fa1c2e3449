/**
 * The zone's control panel, served by every gateway at /_bucky/panel/ to people with a
 * session. Pages are rendered on the server from the local API's answers, in the
 * browser's language; every action is a plain form posted here, which calls the same API
 * the CLI calls and comes back to a page saying what happened (post, then redirect, so a
 * reload repeats nothing). Long work (an install, a backup, a restore) shows how it goes
 * on a page that follows it live: a small script of the panel's own asks for the part
 * again each second; without the script the page reloads itself. Everything works with
 * the keyboard alone and on a phone.
 *
 * What a session sees and does depends on whose it is (lib/users/access.ts): admins the
 * whole zone; a device's session the whole zone too, acting only as any member device
 * may (no invitation, revocation, person or backup: those use keys of the device serving
 * the panel); everyone else the apps shared with them, and their own agents.
 */
import { Hono } from "hono";
import { BuckyError } from "../errors.ts";
import { PANEL_PATH } from "../gateway/routing.ts";
import type { Log } from "../log.ts";
import { refusalOf } from "../node/http.ts";
import { type ApiFetch, LocalApi } from "../node/local-client.ts";
import { readBody } from "../node/request-body.ts";
import { panelRights } from "../users/access.ts";
import { agentPages } from "./agents.tsx";
import { appPages } from "./apps.tsx";
import { backupPages } from "./backups.tsx";
import { Failure } from "./components.tsx";
import { devicePages } from "./devices.tsx";
import { MAX_FORM_BYTES } from "./form-parts.ts";
import { jobPages } from "./jobs.tsx";
import { CSS_PATH, JS_PATH } from "./layout.tsx";
import { overviewPages } from "./overview.tsx";
import { type PanelEnv, pageFor } from "./page.tsx";
import { peoplePages } from "./people.tsx";
import { rulePages } from "./rules.tsx";
import { PANEL_JS } from "./script.ts";
import { storePages } from "./store.tsx";
import { PANEL_CSS } from "./style.ts";

export type { PanelEnv } from "./page.tsx";

/** Which right a section's pages (GET) and actions (POST) need; "" and agents are everyone's. */
const SECTION_RIGHTS: Record<
  string,
  { see: "seeZone" | null; act: "manageApps" | "useDeviceKeys" | null }
> = {
  "": { see: null, act: null },
  assets: { see: null, act: null },
  agents: { see: null, act: null },
  devices: { see: "seeZone", act: "useDeviceKeys" },
  people: { see: "seeZone", act: "useDeviceKeys" },
  backups: { see: "seeZone", act: "useDeviceKeys" },
  apps: { see: "seeZone", act: "manageApps" },
  store: { see: "seeZone", act: "manageApps" },
  rules: { see: "seeZone", act: "manageApps" },
  jobs: { see: "seeZone", act: null },
};

/**
 * Pages that need more than their section's right to be seen: a snapshot's list, folders
 * and files are read with the backup key of the device serving the panel (a device's
 * session, which sees the targets, reads nothing out of them: that device may have been
 * given no backup key of its own).
 */
const PAGE_RIGHTS: readonly (readonly [prefix: string, right: "useDeviceKeys"])[] = [
  ["backups/t/", "useDeviceKeys"],
];

/** What the pages may load: only the panel's own files, and images it makes. */
const CSP = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self'",
  "script-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** The forms with a file, read as they arrive by their own routes. */
const STREAMED_FORMS = new Set(["apps/install", "store/catalogs/preview-file"]);

/**
 * The panel, acting through the local API (`fetch`); `log` takes the one line of a page
 * that failed (a bug in it, with its stack). Each request's session comes with it (the
 * bindings), with the key that seals the notices its actions leave for the next page
 * (notice-cookie.ts: deriveNoticeKey of the session's cookie).
 */
export function createPanel(fetch: ApiFetch, log: Log): Hono<PanelEnv> {
  const api = new LocalApi(fetch);
  const app = new Hono<PanelEnv>({ strict: false }).basePath(PANEL_PATH);

  // A page that failed is a page that says so, in the person's language, with the status
  // of its error (a usage error is a 400, a bug a 500). A bug is logged with its stack, but
  // does not stop the daemon as one in the local or peer API does: the panel is reached
  // from the internet, and nobody there may stop a device by finding one.
  app.onError(async (thrown, c) => {
    const error = refusalOf(thrown, c.req.path, log, () => {});
    const page = pageFor(c, api);
    const { t } = page.locale;
    const bug = error.code === "E_INTERNAL";
    const body = (
      <>
        {bug ? <p role="alert">{t.failed.bug}</p> : <Failure error={error.toJSON()} />}
        <p>{bug ? t.failed.whatToDo : t.failed.tryAgain}</p>
      </>
    );
    try {
      return await page.render("", t.failed.title, body, { status: error.httpStatus });
    } catch {
      // The frame itself failed: the words alone, as plain text.
      return c.text(
        `${t.failed.title}\n\n${bug ? t.failed.bug : error.message}\n${t.failed.whatToDo}\n`,
        error.httpStatus as 500,
      );
    }
  });

  // Never inside another site's frame (its buttons act); nothing but the panel's own files.
  app.use("*", async (c, next) => {
    await next();
    c.header("x-frame-options", "DENY");
    if (!c.res.headers.has("content-security-policy")) c.header("content-security-policy", CSP);
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "same-origin");
  });

  // Forms come from the panel's own pages: a post from another site is refused.
  app.use("*", async (c, next) => {
    if (c.req.method === "POST") {
      const origin = c.req.header("origin");
      const host = c.req.header("host");
      // An app on a host of its own is "same-site": it may not act in the panel either.
      const site = c.req.header("sec-fetch-site");
      const foreign =
        site === "cross-site" ||
        site === "same-site" ||
        (origin === "null" && site !== "same-origin") ||
        (origin !== undefined &&
          origin !== "null" &&
          host !== undefined &&
          URL.parse(origin)?.host !== host);
      if (foreign) return c.text(pageFor(c, api).locale.t.access.foreignForm, 403);
    }
    await next();
  });

  // Each session sees and does what its person (or device) may: nothing more.
  app.use("*", async (c, next) => {
    const path = c.req.path.slice(PANEL_PATH.length + 1);
    const section = path.split("/")[0] ?? "";
    const needs = SECTION_RIGHTS[section] ?? { see: "seeZone", act: "useDeviceKeys" };
    const rights = panelRights(c.env.viewer);
    const right =
      c.req.method === "POST"
        ? (needs.act ?? needs.see)
        : (PAGE_RIGHTS.find(([prefix]) => path.startsWith(prefix))?.[1] ?? needs.see);
    if (right !== null && !rights[right]) {
      const page = pageFor(c, api);
      const { t } = page.locale;
      const why =
        right === "useDeviceKeys" && c.env.viewer.kind === "device"
          ? t.access.deviceCannot
          : t.access.adminsOnly;
      return page.render("", t.access.title, <p role="alert">{why}</p>, { status: 403 });
    }
    await next();
  });

  // A form is read within a bound, whatever it says of its size: the two with a file read
  // theirs as it arrives (FormParts), every other is read whole, at most MAX_FORM_BYTES,
  // and checked to be a form: a multipart body without its boundary threw a TypeError out
  // of every page's parseBody (an error page of 500 for what a client sent).
  app.use("*", async (c, next) => {
    const path = c.req.path.slice(PANEL_PATH.length + 1);
    if (c.req.method !== "POST" || !c.req.raw.body || STREAMED_FORMS.has(path)) return next();
    try {
      const body = await readBody(c.req.raw, MAX_FORM_BYTES, "a form");
      c.req.raw = new Request(c.req.raw, { body });
      await checkForm(c.req.raw);
    } catch (error) {
      if (!(error instanceof BuckyError)) throw error;
      return pageFor(c, api).refuse(path.split("/")[0] ?? "", error.message);
    }
    await next();
  });

  const asset = (body: string, type: string) => () =>
    new Response(body, {
      headers: { "content-type": type, "cache-control": "private, max-age=31536000, immutable" },
    });
  app.get(`/${CSS_PATH}`, asset(PANEL_CSS, "text/css; charset=utf-8"));
  app.get(`/${JS_PATH}`, asset(PANEL_JS, "text/javascript; charset=utf-8"));

  const page = (c: Parameters<typeof pageFor>[0]) => pageFor(c, api);
  overviewPages(app, page);
  devicePages(app, page);
  appPages(app, page);
  storePages(app, page);
  jobPages(app, page);
  backupPages(app, page);
  peoplePages(app, page);
  rulePages(app, page);
  agentPages(app, page);

  app.notFound((c) => c.redirect(`${PANEL_PATH}/`, 303));
  return app;
}

/**
 * Refuses (E_USAGE) a body sent as a form that is none: Hono's parseBody parses form and
 * multipart bodies (anything else is an empty form), and throws a TypeError on a multipart
 * body without its boundary, or cut short.
 */
async function checkForm(request: Request): Promise<void> {
  const type = request.headers.get("content-type")?.toLowerCase() ?? "";
  if (
    !type.startsWith("multipart/form-data") &&
    !type.startsWith("application/x-www-form-urlencoded")
  )
    return;
  try {
    await request.clone().formData();
  } catch (error) {
    if ((error as { code?: unknown })?.code !== "ERR_FORMDATA_PARSE_ERROR") throw error;
    throw new BuckyError("E_USAGE", `the form could not be read: ${(error as Error).message}`);
  }
}
