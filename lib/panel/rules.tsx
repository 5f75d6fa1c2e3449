/**
 * The zone's rules, which every gateway enforces: each said in words, with a button to
 * remove it, and a form to block an app (or every app) for everyone, a person, a role or
 * the sessions of a device, at some hours and on some days.
 */
import type { Hono } from "hono";
import type { FC } from "hono/jsx";
import type { Rule, Weekday } from "../../protocol/rules.ts";
import type { AppStatus } from "../apps/status.ts";
import { systemTimeZone } from "../gateway/rules.ts";
import { listOf } from "../i18n/format.ts";
import type { PersonView } from "../users/accounts.ts";
import type { DeviceView } from "../zone/devices.ts";
import { Action, Cards, shown, useLocale } from "./components.tsx";
import { href } from "./layout.tsx";
import type { Page, PanelContext, PanelEnv } from "./page.tsx";

/** The days as people list them: Monday first. */
const WEEK: readonly Weekday[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

export function rulePages(app: Hono<PanelEnv>, pageOf: (c: PanelContext) => Page): void {
  app.get("/rules", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const [rules, apps, devices, people] = await Promise.all([
      page.api.get<{ rules: Rule[] }>("/v1/rules"),
      page.api.get<{ apps: AppStatus[] }>("/v1/apps"),
      page.api.get<{ devices: DeviceView[] }>("/v1/devices"),
      page.api.get<{ people: PersonView[] }>("/v1/users"),
    ]);
    const appNames = apps.ok ? apps.data.apps.map((a) => a.app) : [];
    const deviceNames = devices.ok ? devices.data.devices.map((d) => d.name) : [];
    const personNames = people.ok ? people.data.people.map((p) => p.name) : [];
    return page.render(
      "rules",
      t.nav.rules,
      <>
        <p>{t.rules.text}</p>
        {shown(rules, (data) =>
          data.rules.length === 0 ? (
            <p class="muted">{t.rules.none}</p>
          ) : (
            <Cards
              rows={data.rules}
              columns={[
                { label: t.rules.rule, cell: (rule) => <RuleText rule={rule} /> },
                {
                  label: "",
                  cell: (rule) => (
                    <Action
                      action={href(`rules/${encodeURIComponent(rule.id)}/remove`)}
                      label={t.rules.remove}
                      danger={true}
                    />
                  ),
                },
              ]}
            />
          ),
        )}
        <h2>{t.rules.addTitle}</h2>
        <form class="stack" method="post" action={href("rules/add")}>
          <label>
            {t.rules.app}
            <select name="app" required>
              {appNames.map((name) => (
                <option value={name}>{name}</option>
              ))}
              <option value="*">{t.rules.everyApp}</option>
            </select>
          </label>
          <label>
            {t.rules.whom}
            <select name="whom">
              <option value="">{t.rules.everyone}</option>
              <optgroup label={t.rules.aPerson}>
                {personNames.map((name) => (
                  <option value={`user:${name}`}>{name}</option>
                ))}
              </optgroup>
              <optgroup label={t.rules.aRole}>
                <option value="role:child">{t.rules.children}</option>
                <option value="role:member">{t.rules.members}</option>
              </optgroup>
              <optgroup label={t.rules.aDevice}>
                {deviceNames.map((name) => (
                  <option value={`device:${name}`}>{name}</option>
                ))}
              </optgroup>
            </select>
          </label>
          <fieldset>
            <legend>{t.rules.hours}</legend>
            <label>
              {t.rules.from}
              <input type="time" name="from" />
            </label>
            <label>
              {t.rules.to}
              <input type="time" name="to" />
            </label>
          </fieldset>
          <fieldset>
            <legend>{t.rules.days}</legend>
            <div class="days">
              {WEEK.map((day) => (
                <label class="check">
                  <input type="checkbox" name="days" value={day} />
                  {t.rules.weekdays[day]}
                </label>
              ))}
            </div>
          </fieldset>
          {/* The hours and days are the person's: the panel's script puts the browser's
              zone here, where the device serving the page may be a VM on UTC. */}
          <label>
            {t.rules.timeZone}
            <input name="timeZone" value={systemTimeZone()} data-browser-time-zone="" />
          </label>
          <button type="submit">{t.rules.add}</button>
        </form>
      </>,
    );
  });

  app.post("/rules/add", async (c) => {
    const page = pageOf(c);
    const { t } = page.locale;
    const form = await c.req.parseBody({ all: true });
    const field = (name: string) =>
      typeof form[name] === "string" && form[name] ? (form[name] as string) : undefined;
    const [kind, whom] = (field("whom") ?? "").split(":", 2) as [string, string | undefined];
    const from = field("from");
    const to = field("to");
    if ((from === undefined) !== (to === undefined)) return page.refuse("rules", t.rules.bothTimes);
    const days = (
      Array.isArray(form.days) ? form.days : form.days === undefined ? [] : [form.days]
    ).map(String);
    const result = await page.api.post<{ id: string }>("/v1/rules", {
      action: "block",
      app: field("app") ?? "",
      ...(whom && ["user", "role", "device"].includes(kind) ? { [kind]: whom } : {}),
      ...(from && to ? { between: `${from}-${to}` } : {}),
      ...(days.length > 0 ? { days: days.join(",") } : {}),
      // A zone names when the hours and days are read, so only with them.
      ...((from && to) || days.length > 0 ? { timeZone: field("timeZone") } : {}),
    });
    return page.back("rules", result, t.rules.added);
  });

  app.post("/rules/:id/remove", async (c) => {
    const page = pageOf(c);
    const result = await page.api.delete(`/v1/rules/${encodeURIComponent(c.req.param("id"))}`);
    return page.back("rules", result, page.locale.t.rules.removed);
  });
}

/** A rule in words, in the viewer's language. */
const RuleText: FC<{ rule: Rule }> = ({ rule }) => {
  const { t, language } = useLocale();
  const r = t.rules;
  const time = (minute: number) =>
    `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
  const what = rule.app === "*" ? r.blockAll : r.blockApp({ app: rule.app });
  const whom = rule.user
    ? r.forPerson({ person: rule.user })
    : rule.role
      ? r.forRole({ role: (t.status as Record<string, string>)[rule.role] ?? rule.role })
      : rule.device
        ? r.forDevice({ device: rule.device })
        : rule.client
          ? r.forClient({ client: rule.client })
          : r.forEveryone;
  return (
    <>
      <strong>{what}</strong>
      <div>{whom}</div>
      {rule.between ? (
        <div>{r.between({ from: time(rule.between.start), to: time(rule.between.end) })}</div>
      ) : null}
      {rule.days ? (
        <div>
          {r.onDays({
            days: listOf(
              WEEK.filter((d) => rule.days?.includes(d)).map((d) => r.weekdays[d]),
              language,
            ),
          })}
        </div>
      ) : null}
      {/* The zone every gateway reads the window and days in. */}
      {rule.timeZone ? <div>{rule.timeZone}</div> : null}
    </>
  );
};
