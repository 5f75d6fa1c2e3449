/**
 * The panel's one stylesheet, served as a file (cached, and allowed by the pages' CSP,
 * which permits no inline style). Phone first: one column, touch targets at least 44 px
 * high, tables shown as cards below 40rem (each cell labelled by its column), nothing
 * wider than the screen; wider screens get tables and more room.
 */
export const PANEL_CSS = `
:root { color-scheme: light dark; --accent: #1d4ed8; --accent-text: #fff; --bad: #b91c1c; --good: #15803d; --muted: #595f69; --line: #d1d5db; --card: rgba(127,127,127,.07); }
@media (prefers-color-scheme: dark) { :root { --accent: #93b4ff; --accent-text: #0b1220; --bad: #fca5a5; --good: #86efac; --muted: #b3b8c2; --line: #4b5563; } }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 16px/1.5 system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; overflow-wrap: anywhere; }
a { color: var(--accent); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.skip { position: absolute; left: -999px; top: 0; background: var(--accent); color: var(--accent-text); padding: .6rem 1rem; z-index: 2; }
.skip:focus { left: .5rem; }
header { display: flex; flex-wrap: wrap; gap: .25rem 1rem; align-items: center; padding: .5rem .75rem; border-bottom: 1px solid var(--line); }
header .zone { font-weight: 700; font-size: 1.1rem; margin-right: auto; }
header .who { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; font-size: .9rem; }
nav { width: 100%; }
nav ul { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; margin: 0; padding: 0; }
nav a { display: inline-flex; align-items: center; min-height: 44px; padding: .25rem .75rem; border-radius: .5rem; text-decoration: none; color: inherit; }
nav a[aria-current="page"] { background: var(--accent); color: var(--accent-text); }
main { padding: .75rem; max-width: 64rem; margin: auto; }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .25rem; }
p { margin: .5rem 0; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible, summary:focus-visible, time:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
button, .button, input, select, textarea { font: inherit; min-height: 44px; padding: .4rem .75rem; border-radius: .5rem; border: 1px solid var(--line); max-width: 100%; }
input, select, textarea { width: 100%; background: transparent; color: inherit; }
input[type="checkbox"], input[type="radio"] { width: auto; min-height: 0; }
button, .button { display: inline-flex; align-items: center; justify-content: center; background: var(--accent); color: var(--accent-text); border-color: var(--accent); cursor: pointer; text-decoration: none; }
button.secondary, .button.secondary { background: transparent; color: var(--accent); }
button.danger { background: var(--bad); border-color: var(--bad); color: #fff; }
@media (prefers-color-scheme: dark) { button.danger { color: #1f0a0a; } }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
form.inline { display: inline-flex; margin: 0; }
form.stack { display: grid; gap: .75rem; max-width: 32rem; margin: .5rem 0; }
label { display: grid; gap: .25rem; }
label.check { display: flex; gap: .5rem; align-items: center; min-height: 44px; }
fieldset { border: 1px solid var(--line); border-radius: .5rem; padding: .5rem .75rem; margin: 0; }
legend { padding: 0 .25rem; }
.days { display: flex; flex-wrap: wrap; gap: 0 1rem; }
.hint, .muted { color: var(--muted); }
.hint { font-size: .9rem; }
.notice { padding: .6rem .8rem; border-radius: .5rem; margin-bottom: 1rem; border: 2px solid; }
.notice.ok { border-color: var(--good); }
.notice.error { border-color: var(--bad); }
.level { font-size: 1.2rem; font-weight: 600; margin: .25rem 0; }
.warn { color: var(--bad); }
.tag { display: inline-block; padding: 0 .5rem; border-radius: .4rem; border: 1px solid var(--line); font-size: .85rem; white-space: nowrap; }
.tag.good { border-color: var(--good); color: var(--good); }
.tag.bad { border-color: var(--bad); color: var(--bad); }
details { margin: .25rem 0; }
summary { cursor: pointer; min-height: 44px; display: flex; align-items: center; color: var(--accent); }
pre, code { font-family: ui-monospace, monospace; }
pre { white-space: pre-wrap; word-break: break-all; background: var(--card); padding: .6rem; border-radius: .5rem; font-size: .85rem; margin: .5rem 0; }
time[tabindex] { text-decoration: underline dotted; cursor: help; }
time[tabindex]:focus::after { content: " (" attr(title) ")"; color: var(--muted); }
progress { width: 100%; height: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
@media (max-width: 40rem) {
  table.cards thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
  table.cards tr { border: 1px solid var(--line); border-radius: .75rem; padding: .25rem .75rem; margin-bottom: .75rem; background: var(--card); }
  table.cards td { border: 0; padding: .35rem 0; }
  table.cards td[data-label]:not([data-label=""])::before { content: attr(data-label); display: block; font-size: .8rem; color: var(--muted); }
}
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(15rem, 1fr)); gap: .75rem; list-style: none; padding: 0; margin: .5rem 0; }
.card { border: 1px solid var(--line); border-radius: .75rem; padding: .75rem; background: var(--card); display: grid; gap: .4rem; align-content: start; }
.card .head { display: flex; gap: .75rem; align-items: center; }
.card h3 { margin: 0; font-size: 1.05rem; }
.icon { width: 48px; height: 48px; border-radius: .75rem; flex: none; }
.icon.big { width: 72px; height: 72px; }
.needs { display: flex; flex-wrap: wrap; gap: .25rem; padding: 0; margin: 0; list-style: none; }
.search { display: flex; gap: .5rem; max-width: 32rem; }
.search input { flex: 1; }
.crumbs { display: flex; flex-wrap: wrap; gap: .25rem; list-style: none; padding: 0; margin: .5rem 0; }
.crumbs li + li::before { content: "/"; margin-right: .25rem; color: var(--muted); }
.chart { margin: .5rem 0 1rem; }
.chart figcaption { font-weight: 600; }
.chart svg { display: block; width: 100%; height: 8rem; }
.chart .axis { display: flex; justify-content: space-between; font-size: .85rem; color: var(--muted); }
.chart rect { fill: var(--accent); }
.qr { max-width: 16rem; background: #fff; padding: .5rem; }
.qr svg { display: block; width: 100%; height: auto; }
.key { font-family: ui-monospace, monospace; font-size: .9rem; background: var(--card); padding: .5rem; border-radius: .5rem; word-break: break-all; }
`;
