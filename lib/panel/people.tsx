/**
 * The people of the zone: who they are, their role and how they sign in; adding one or
 * giving one a new link (shown once, as text to copy and as a QR code); removing one.
 */
import type { Context, Hono } from "hono";
import { renderSVG } from "uqr";
import { listOf } from "../i18n/format.ts";
import type { ApiResult } from "../node/local-client.ts";
import type { HeldElsewhere } from "../node/node-context.ts";
import { panelRights } from "../users/access.ts";
import { mayChangeAccount, panelActor } from "../users/account-rights.ts";
import type { Enrolled, PersonView } from "../users/accounts.ts";
import { Action, Cards, Confirm, CopyButton, shown, Tag, Time } from "./components.tsx";
import { notHeldYetNote } from "./held-notes.ts";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

export function peoplePages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/people", async (c) => {
    const page = pageOf(c);
    const { t, language } = page.locale;
    const people = await page.api.get<{ people: PersonView[] }>("/v1/users");
    const acts = panelRights(c.env.viewer).useDeviceKeys;
    const actor = panelActor(c.env.viewer);
    // Only what this person may do is offered (an admin manages members and children).
    const may = (change: Parameters<typeof mayChangeAccount>[1]) =>
      actor !== undefined && mayChangeAccount(actor, change);
    const ways = t.people.ways as Record<string, string>;
    return page.render(
      "people",
      t.nav.people,
      <>
        {shown(people, (data) => (
          <Cards
            rows={data.people}
            columns={[
              { label: t.people.person, cell: (p) => <strong>{p.name}</strong> },
              { label: t.people.role, cell: (p) => <Tag value={p.role} /> },
              {
                label: t.people.signsInWith,
                cell: (p) => {
                  const how =
                    p.signsInWith.length > 0
                      ? listOf(
                          p.signsInWith.map((w) => ways[w] ?? w),
                          language,
                        )
                      : p.role === "owner"
                        ? t.people.ownerLink
                        : undefined;
                  // A link used twice is said beside any other way in (maybe a theft), as
                  // a password changed two ways at once.
                  const lost = [
                    ...(p.linkUsedTwice ? [t.people.linkUsedTwice] : []),
                    ...(p.passwordChangedTwoWays ? [t.people.passwordChangedTwoWays] : []),
                  ];
                  if (lost.length === 0) return how ?? t.people.notYet;
                  return (
                    <>
                      {how ? `${how}; ` : null}
                      <strong>{lost.join(" ")}</strong>
                    </>
                  );
                },
              },
              ...(acts
                ? [
                    {
                      label: "",
                      cell: (p: PersonView) => (
                        <div class="actions">
                          {may({ kind: "reset", user: p.name, role: p.role }) ? (
                            <Action
                              action={href(`people/${encodeURIComponent(p.name)}/reset`)}
                              label={t.people.newLink}
                              secondary={true}
                            />
                          ) : null}
                          {may({ kind: "sign-out", user: p.name, role: p.role }) ? (
                            <Action
                              action={href(`people/${encodeURIComponent(p.name)}/sign-out`)}
                              label={t.people.signOutEverywhere}
                              secondary={true}
                            />
                          ) : null}
                          {p.role === "owner" ||
                          !may({ kind: "remove", user: p.name, role: p.role }) ? null : (
                            <Confirm
                              summary={t.people.removeOpen}
                              text={t.people.removeText({ person: p.name })}
                              action={href(`people/${encodeURIComponent(p.name)}/remove`)}
                              label={t.people.remove({ person: p.name })}
                            />
                          )}
                        </div>
                      ),
                    },
                  ]
                : []),
            ]}
          />
        ))}
        <h2>{t.people.addTitle}</h2>
        <p>{t.people.addText}</p>
        <form class="stack" method="post" action={href("people/add")}>
          <label>
            {t.people.name}
            <input
              type="text"
              name="name"
              required
              autocomplete="off"
              pattern="[a-z0-9][a-z0-9-]*"
            />
          </label>
          <label>
            {t.people.role}
            <select name="role">
              <option value="member">{t.people.roles.member}</option>
              <option value="child">{t.people.roles.child}</option>
              {may({ kind: "add", role: "admin" }) ? (
                <option value="admin">{t.people.roles.admin}</option>
              ) : null}
            </select>
          </label>
          <button type="submit">{t.people.add}</button>
        </form>
      </>,
    );
  });

  /** The page that shows an enrollment link once, as text and as a QR code. */
  const enrolled = async (c: Context<PanelEnv>, result: ApiResult<Enrolled>, reset: boolean) => {
    const page = pageOf(c);
    const { t } = page.locale;
    if (!result.ok) return page.back("people", result, "");
    const { user, enrollment } = result.data;
    const notHeld = notHeldYetNote(result.data, t);
    return page.render(
      "people",
      t.people.linkFor({ person: user }),
      <>
        <p>{reset ? t.people.resetDone : t.people.added({ person: user })}</p>
        {notHeld ? (
          <p class="warn" role="alert">
            {notHeld}
          </p>
        ) : null}
        <p>{t.people.linkText({ person: user, gateway: enrollment.gateway })}</p>
        <p>
          {t.people.validUntil} <Time iso={enrollment.expiresAt} />
        </p>
        <pre id="enrollment">{enrollment.url}</pre>
        <div class="actions">
          <CopyButton target="enrollment" />
        </div>
        {enrollment.otherGateways.length > 0 ? (
          <>
            <p>{t.people.otherGateways}</p>
            <ul>
              {enrollment.otherGateways.map((other) => (
                <li>
                  {other.gateway}: <code>{other.url}</code>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        <p>{t.people.scan}</p>
        <div
          class="qr"
          role="img"
          aria-label={t.people.qr}
          dangerouslySetInnerHTML={{ __html: renderSVG(enrollment.url) }}
        />
        <p>
          <a href={href("people")}>{t.people.back}</a>
        </p>
      </>,
    );
  };

  app.post("/people/add", async (c) => {
    const page = pageOf(c);
    const form = await c.req.parseBody();
    const result = await page.api.post<Enrolled>("/v1/users", {
      name: typeof form.name === "string" ? form.name.trim() : "",
      role: typeof form.role === "string" ? form.role : "member",
    });
    return enrolled(c, result, false);
  });

  app.post("/people/:name/reset", async (c) => {
    const page = pageOf(c);
    const result = await page.api.post<Enrolled>(
      `/v1/users/${encodeURIComponent(c.req.param("name"))}/reset`,
      {},
    );
    return enrolled(c, result, true);
  });

  app.post("/people/:name/sign-out", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("name");
    const result = await page.api.post<{ user: string; heldElsewhere: HeldElsewhere }>(
      `/v1/users/${encodeURIComponent(name)}/sign-out`,
      {},
    );
    return page.back("people", result, page.locale.t.people.signedOutEverywhere({ person: name }));
  });

  app.post("/people/:name/remove", async (c) => {
    const page = pageOf(c);
    const name = c.req.param("name");
    const result = await page.api.delete(`/v1/users/${encodeURIComponent(name)}`);
    return page.back("people", result, page.locale.t.people.removed({ person: name }));
  });
}
