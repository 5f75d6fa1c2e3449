/**
 * A person's own AI agents: granted here, for themselves, reaching no further than them;
 * each listed with what it may do, until when, and a button to revoke it.
 */
import type { Hono } from "hono";
import { personReach } from "../../protocol/agent-token.ts";
import type { ListedAgent } from "../agent/standing.ts";
import { MCP_PATH } from "../gateway/routing.ts";
import { listOf } from "../i18n/format.ts";
import { Action, Cards, CopyButton, shown, Time } from "./components.tsx";
import { notHeldYetNote } from "./held-notes.ts";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

const DAY_MS = 24 * 3_600_000;

export function agentPages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/agents", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const viewer = c.env.viewer;
    if (viewer.kind !== "person")
      return page.render("agents", t.nav.agents, <p>{t.agents.signInFirst}</p>);
    const agents = await page.api.get<{ agents: ListedAgent[] }>(
      `/v1/agents?user=${encodeURIComponent(viewer.user)}`,
    );
    const reach = personReach(viewer.role);
    const scopes = t.agents.scopes as Record<string, string>;
    const word = (scope: string) => scopes[scope] ?? scope;
    return page.render(
      "agents",
      t.nav.yourAgents,
      <>
        <p>{t.agents.text}</p>
        <ul>
          <li>
            {t.agents.mayRead({
              what: listOf(
                reach.read.map((s) => word(`read ${s}`)),
                language,
              ),
            })}
          </li>
          {reach.act.length > 0 ? (
            <li>{t.agents.mayDo({ what: listOf(reach.act.map(word), language) })}</li>
          ) : null}
        </ul>
        <p>
          {t.agents.connects} <code>{MCP_PATH}</code>
        </p>
        {shown(agents, (data) =>
          data.agents.length === 0 ? (
            <p class="muted">{t.agents.none}</p>
          ) : (
            <Cards
              rows={data.agents}
              columns={[
                { label: t.agents.agent, cell: (a) => <strong>{a.agent}</strong> },
                {
                  label: t.agents.may,
                  cell: (a) =>
                    listOf(
                      [...a.scopes.read.map((s) => word(`read ${s}`)), ...a.scopes.act.map(word)],
                      language,
                    ),
                },
                {
                  label: t.agents.until,
                  cell: (a) =>
                    a.revokedAt ? (
                      <>
                        {t.agents.revokedAt} <Time iso={a.revokedAt} />
                      </>
                    ) : a.stopped ? (
                      <>
                        <strong class="warn">{t.agents.notWorking}</strong>{" "}
                        {t.agents.stopped[a.stopped.why]({ device: a.grantedBy })}{" "}
                        <span class="hint">{t.agents.grantAgain}</span>
                      </>
                    ) : (
                      <Time iso={a.expiresAt} />
                    ),
                },
                {
                  label: "",
                  // A replaced grant has no revoke of its own: revoking its name would
                  // revoke the grant that holds.
                  cell: (a) =>
                    a.revokedAt || a.stopped?.why === "replaced" ? null : (
                      <Action
                        action={href(`agents/${encodeURIComponent(a.agent)}/revoke`)}
                        label={t.agents.revoke}
                        danger={true}
                      />
                    ),
                },
              ]}
            />
          ),
        )}
        <h2>{t.agents.grantTitle}</h2>
        <form class="stack" method="post" action={href("agents/grant")}>
          <label>
            {t.agents.name}
            <input
              type="text"
              name="name"
              required
              autocomplete="off"
              pattern="[a-z0-9][a-z0-9-]*"
            />
          </label>
          <fieldset>
            <legend>{t.agents.may}</legend>
            {reach.read.map((scope) => (
              <label class="check">
                <input type="checkbox" name="read" value={scope} checked />
                {word(`read ${scope}`)}
              </label>
            ))}
            {reach.act.map((action) => (
              <label class="check">
                <input type="checkbox" name="act" value={action} />
                {word(action)}
              </label>
            ))}
          </fieldset>
          <label>
            {t.agents.for}
            <select name="ttlMs">
              <option value={String(7 * DAY_MS)}>{t.agents.days({ days: 7 })}</option>
              <option value={String(30 * DAY_MS)}>{t.agents.days({ days: 30 })}</option>
            </select>
          </label>
          <button type="submit">{t.agents.grant}</button>
        </form>
      </>,
    );
  });

  app.post("/agents/grant", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const viewer = c.env.viewer;
    if (viewer.kind !== "person") return c.redirect(href("agents"), 303);
    const form = await c.req.parseBody({ all: true });
    const list = (value: unknown) =>
      (Array.isArray(value) ? value : value === undefined ? [] : [value]).map(String);
    const name = typeof form.name === "string" ? form.name.trim() : "";
    const granted = await page.api.post<{ token: string; record: ListedAgent }>("/v1/agents", {
      name: `${viewer.user}-${name}`,
      read: list(form.read),
      act: list(form.act),
      ttlMs: Number(form.ttlMs ?? 7 * DAY_MS),
      user: viewer.user,
    });
    if (!granted.ok) return page.back("agents", granted, "");
    const notHeld = notHeldYetNote(granted.data, t);
    // Shown once, right here: the token is a secret, so it never goes into an address.
    return page.render(
      "agents",
      t.agents.tokenTitle({ agent: granted.data.record.agent }),
      <>
        <p>{t.agents.tokenText}</p>
        {notHeld ? (
          <p class="warn" role="alert">
            {notHeld}
          </p>
        ) : null}
        <p>
          {t.agents.validUntil} <Time iso={granted.data.record.expiresAt} />
        </p>
        <pre id="agent-token">{granted.data.token}</pre>
        <div class="actions">
          <CopyButton target="agent-token" />
        </div>
        <p>
          {t.agents.connects} <code>{MCP_PATH}</code>
        </p>
        <p>
          <a href={href("agents")}>{t.agents.back}</a>
        </p>
      </>,
    );
  });

  app.post("/agents/:name/revoke", async (c) => {
    const page = pageOf(c);
    const viewer = c.env.viewer;
    if (viewer.kind !== "person") return c.redirect(href("agents"), 303);
    const name = c.req.param("name");
    const result = await page.api.post(`/v1/agents/${encodeURIComponent(name)}/revoke`, {
      user: viewer.user,
    });
    return page.back("agents", result, page.locale.t.agents.revoked({ agent: name }));
  });
}
