/**
 * The panel's frame: the stylesheet and script (files of its own, nothing from the
 * internet), a link past the menu for the keyboard, the sections, who is signed in, and
 * the notice the last action left.
 */
import type { Child, FC } from "hono/jsx";
import { ACCOUNT_PATH, PANEL_PATH, SIGNOUT_PATH } from "../gateway/routing.ts";
import type { Messages } from "../i18n/messages.ts";
import { panelRights, type Viewer } from "../users/access.ts";
import { type Locale, LocaleContext } from "./components.tsx";
import { PANEL_JS } from "./script.ts";
import { PANEL_CSS } from "./style.ts";

type SectionName = keyof Messages["nav"];

/** What an admin (or a device's session) sees: the whole zone. */
const SECTIONS: readonly (readonly [string, SectionName])[] = [
  ["", "overview"],
  ["apps", "apps"],
  ["store", "store"],
  ["devices", "devices"],
  ["backups", "backups"],
  ["people", "people"],
  ["rules", "rules"],
  ["agents", "agents"],
];
/** What everyone else sees: their own. */
const PERSON_SECTIONS: readonly (readonly [string, SectionName])[] = [
  ["", "yourApps"],
  ["agents", "yourAgents"],
];

export const href = (path = "") => `${PANEL_PATH}/${path}`;

/** The assets' addresses carry a digest of their bytes, so a new version is fetched anew. */
const version = (text: string) =>
  new Bun.CryptoHasher("sha256").update(text).digest("hex").slice(0, 12);
export const CSS_PATH = `assets/panel-${version(PANEL_CSS)}.css`;
export const JS_PATH = `assets/panel-${version(PANEL_JS)}.js`;

export interface Notice {
  readonly kind: "ok" | "error";
  readonly text: string;
  readonly hint?: string;
}

export const Layout: FC<{
  title: string;
  section: string;
  zone: string;
  viewer: Viewer;
  locale: Locale;
  notice?: Notice | undefined;
  /** The page follows long work: without the script, it reloads itself. */
  live?: boolean;
  children?: Child;
}> = (props) => {
  const { t, language } = props.locale;
  const sections = panelRights(props.viewer).seeZone ? SECTIONS : PERSON_SECTIONS;
  return (
    <LocaleContext.Provider value={props.locale}>
      <html lang={language}>
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{t.layout.title({ page: props.title, zone: props.zone })}</title>
          <link rel="stylesheet" href={href(CSS_PATH)} />
          <script src={href(JS_PATH)} defer />
          {props.live ? (
            <noscript>
              <meta http-equiv="refresh" content="3" />
            </noscript>
          ) : null}
        </head>
        <body>
          <a class="skip" href="#main">
            {t.layout.skip}
          </a>
          <header>
            <span class="zone">{props.zone}</span>
            <span class="who">
              {props.viewer.kind === "person"
                ? t.layout.signedInAs({
                    user: props.viewer.user,
                    role:
                      (t.status as Record<string, string>)[props.viewer.role] ?? props.viewer.role,
                  })
                : t.layout.throughDevice({
                    device: props.viewer.deviceName ?? props.viewer.device,
                  })}
              {props.viewer.kind === "person" ? (
                <a href={ACCOUNT_PATH}>{t.layout.yourAccount}</a>
              ) : null}
              <form class="inline" method="post" action={SIGNOUT_PATH}>
                <button type="submit" class="secondary">
                  {t.layout.signOut}
                </button>
              </form>
            </span>
            <nav aria-label={t.layout.sections}>
              <ul>
                {sections.map(([path, name]) => (
                  <li>
                    <a href={href(path)} aria-current={props.section === path ? "page" : undefined}>
                      {t.nav[name]}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          </header>
          <main id="main" tabindex={-1}>
            {props.notice ? (
              <div
                class={`notice ${props.notice.kind}`}
                role={props.notice.kind === "error" ? "alert" : "status"}
              >
                {props.notice.text}
                {props.notice.hint ? <div class="hint">{props.notice.hint}</div> : null}
              </div>
            ) : null}
            <h1>{props.title}</h1>
            {props.children}
          </main>
        </body>
      </html>
    </LocaleContext.Provider>
  );
};
