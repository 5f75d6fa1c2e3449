/**
 * The panel's frame: one small stylesheet (no external assets: the page works offline and
 * on a phone), a header with the sections, and a message area for what just happened.
 */
import type { Child, FC } from "hono/jsx";
import { PANEL_PATH, SIGNOUT_PATH } from "../gateway/routing.ts";
import { panelRights, type Viewer } from "../users/access.ts";

/** What an admin (or a device's session) sees: the whole zone. */
export const SECTIONS = [
  ["", "Overview"],
  ["devices", "Devices"],
  ["apps", "Apps"],
  ["people", "People"],
  ["backups", "Backups"],
  ["rules", "Rules"],
  ["agents", "Agents"],
] as const;
/** What everyone else sees: their own. */
export const PERSON_SECTIONS = [
  ["", "Your apps"],
  ["agents", "Your agents"],
] as const;

export function sectionsFor(viewer: Viewer): readonly (readonly [string, string])[] {
  return panelRights(viewer).seeZone ? SECTIONS : PERSON_SECTIONS;
}

export const href = (path = "") => `${PANEL_PATH}/${path}`;

export interface Notice {
  readonly kind: "ok" | "error";
  readonly text: string;
  readonly hint?: string;
}

const STYLE = `
:root { color-scheme: light dark; --accent: #2563eb; --bad: #b91c1c; --good: #15803d; --muted: #6b7280; --line: #d1d5db; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, sans-serif; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; padding: .75rem 1rem; border-bottom: 1px solid var(--line); }
header strong { font-size: 1.1rem; }
header .who { margin-left: auto; display: flex; gap: .5rem; align-items: center; }
nav { display: flex; flex-wrap: wrap; gap: .25rem; }
nav a { padding: .35rem .7rem; border-radius: .4rem; text-decoration: none; color: inherit; }
nav a[aria-current="page"] { background: var(--accent); color: white; }
main { padding: 1rem; max-width: 64rem; margin: auto; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.scroll { overflow-x: auto; }
.notice { padding: .6rem .8rem; border-radius: .4rem; margin-bottom: 1rem; border: 1px solid; }
.notice.ok { border-color: var(--good); }
.notice.error { border-color: var(--bad); }
.level { font-size: 1.2rem; font-weight: 600; }
.warn { color: var(--bad); }
.muted { color: var(--muted); }
.tag { display: inline-block; padding: 0 .45rem; border-radius: .3rem; border: 1px solid var(--line); font-size: .85rem; }
.tag.online, .tag.running, .tag.direct { border-color: var(--good); color: var(--good); }
.tag.offline, .tag.failed, .tag.revoked, .tag.quarantined, .tag.unhealthy { border-color: var(--bad); color: var(--bad); }
form.inline { display: inline; }
form.stack { display: grid; gap: .5rem; max-width: 28rem; }
label { display: grid; gap: .2rem; }
input, select, button { font: inherit; padding: .4rem .6rem; border-radius: .4rem; border: 1px solid var(--line); }
button { background: var(--accent); color: white; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
pre { white-space: pre-wrap; word-break: break-all; background: rgba(127,127,127,.12); padding: .6rem; border-radius: .4rem; font-size: .85rem; }
svg.chart { width: 100%; height: auto; max-height: 14rem; }
.qr { max-width: 16rem; background: white; padding: .5rem; }
`;

export const Layout: FC<{
  title: string;
  section: string;
  zone: string;
  viewer: Viewer;
  notice?: Notice | undefined;
  children?: Child;
}> = (props) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${props.title} · ${props.zone} · bucky`}</title>
      {/* Trusted text of our own: inserted as is (JSX would escape the quotes in it). */}
      <style dangerouslySetInnerHTML={{ __html: STYLE }} />
    </head>
    <body>
      <header>
        <strong>{props.zone}</strong>
        <nav aria-label="Sections">
          {sectionsFor(props.viewer).map(([path, name]) => (
            <a href={href(path)} aria-current={props.section === path ? "page" : undefined}>
              {name}
            </a>
          ))}
        </nav>
        <span class="who">
          {props.viewer.kind === "person"
            ? `${props.viewer.user} (${props.viewer.role})`
            : `through the device ${props.viewer.deviceName ?? props.viewer.device}`}
          <form class="inline" method="post" action={SIGNOUT_PATH}>
            <button type="submit">Sign out</button>
          </form>
        </span>
      </header>
      <main>
        {props.notice ? (
          <div
            class={`notice ${props.notice.kind}`}
            role={props.notice.kind === "error" ? "alert" : "status"}
          >
            {props.notice.text}
            {props.notice.hint ? <div class="muted">{props.notice.hint}</div> : null}
          </div>
        ) : null}
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </body>
  </html>
);

/** A status word as a tag whose colour says good or bad (the word itself says it too). */
export const Tag: FC<{ value: string }> = ({ value }) => (
  <span class={`tag ${value}`}>{value}</span>
);

/** A button that posts a form to `action` (no script needed), with hidden fields. */
export const Action: FC<{
  action: string;
  label: string;
  danger?: boolean;
  fields?: Record<string, string>;
}> = (props) => (
  <form class="inline" method="post" action={props.action}>
    {Object.entries(props.fields ?? {}).map(([name, value]) => (
      <input type="hidden" name={name} value={value} />
    ))}
    <button type="submit" class={props.danger ? "danger" : undefined}>
      {props.label}
    </button>
  </form>
);
