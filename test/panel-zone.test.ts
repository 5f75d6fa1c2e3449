/**
 * The control panel is the zone's, not the device's that serves it: with real daemons, plain
 * requests with the owner's session cookie act at one device's gateway and read at the
 * other's. A backup one device made is on the other's backups page, and a target that lost
 * that backup is said to have lost it on the other's snapshot list (as `bucky backup list`
 * says it). An action whose answer promises it outlives the device is answered only once
 * another device holds it, and when none does within the bound the page says so; with the
 * acting device killed, the other's pages still show it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { appKeys } from "../lib/apps/spec.ts";
import { approvalKey } from "../lib/gateway/approval.ts";
import { limitKey } from "../lib/gateway/owner-limits.ts";
import { en } from "../lib/i18n/en.ts";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const PANEL = "/_bucky/panel/";

let alpha: Daemon;
let beta: Daemon;
let alphaGateway: string;
let betaGateway: string;
/** The owner's session (made with alpha's owner key), good at either gateway. */
let cookie: string;
let repo: string;

/** Text as a page shows it: the HTML's escapes of ' and " undone. */
function unescaped(html: string): string {
  return html.replaceAll("&#39;", "'").replaceAll("&quot;", '"').replaceAll("&amp;", "&");
}

/** The panel's page `path` at `gateway`, as the owner sees it (with a notice cookie, if given). */
async function pageAt(gateway: string, path: string, notice = ""): Promise<string> {
  const response = await fetch(`${gateway}${PANEL}${path}`, {
    headers: { cookie: notice ? `${cookie}; ${notice}` : cookie, "accept-language": "en" },
    redirect: "manual",
  });
  expect(response.status).toBe(200);
  return unescaped(await response.text());
}

/**
 * Posts the panel's form `path` at `gateway` as the owner's browser does; once answered,
 * what reads the page it comes back to with the notice the action left.
 */
async function posted(
  gateway: string,
  path: string,
  form: Record<string, string>,
): Promise<() => Promise<string>> {
  const response = await fetch(`${gateway}${PANEL}${path}`, {
    method: "POST",
    headers: { cookie, origin: gateway, "accept-language": "en" },
    body: new URLSearchParams(form),
    redirect: "manual",
  });
  expect(response.status).toBe(303);
  const notice = (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
  const back = new URL(response.headers.get("location") ?? "", gateway).pathname;
  return () => pageAt(gateway, back.slice(PANEL.length), notice);
}

/** Posts the panel's form `path` at `gateway`, and reads the page it comes back to. */
async function act(gateway: string, path: string, form: Record<string, string>): Promise<string> {
  return (await posted(gateway, path, form))();
}

/** Posts the panel's form `path` at `gateway` whose answer is a page of its own (a token's, a link's). */
async function actShown(
  gateway: string,
  path: string,
  form: Record<string, string>,
): Promise<string> {
  const response = await fetch(`${gateway}${PANEL}${path}`, {
    method: "POST",
    headers: { cookie, origin: gateway, "accept-language": "en" },
    body: new URLSearchParams(form),
    redirect: "manual",
  });
  expect(response.status).toBe(200);
  return unescaped(await response.text());
}

/** The value of the zone state's `key` as `home`'s device holds it (undefined: none). */
async function stateValue(home: string, key: string): Promise<unknown> {
  const got = await bucky(["state", "get", key, "--home", home, "--json"]);
  return got.exitCode === 0 ? (JSON.parse(got.stdout) as { value: unknown }).value : undefined;
}

/** A new session of the owner's, opened at alpha's gateway by a login link: its cookie. */
async function signIn(): Promise<string> {
  const link = new URL(
    (await buckyJson<{ url: string }>(["login-link", "--home", alpha.home])).url,
  );
  const opened = await fetch(link, { redirect: "manual" });
  return (opened.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

/** A catalog `name` of the whoami app, published into a directory: it and its publisher. */
async function publishCatalog(name: string): Promise<{ out: string; publisher: string }> {
  const dir = scratchDir();
  cpSync(resolve(import.meta.dir, "../fixtures/apps/whoami"), join(dir, "whoami"), {
    recursive: true,
  });
  writeFileSync(
    join(dir, "catalog.json"),
    JSON.stringify({ name, version: 1, apps: [{ dir: "whoami" }] }),
  );
  const out = join(dir, "out");
  const { publisher } = await buckyJson<{ publisher: string }>([
    ...["store", "publish", join(dir, "catalog.json"), "--key", join(dir, "publisher.key")],
    ...["--out", out],
  ]);
  return { out, publisher };
}

/** What `home`'s device says of `device`'s last backup to usb, from the zone's status. */
async function lastBackupSaid(
  home: string,
  device: string,
): Promise<{ at: string; snapshot: string } | undefined> {
  const status = await buckyJson<{
    backups: { device: string; target: string; lastBackup: { at: string; snapshot: string } }[];
  }>(["status", "--home", home]);
  return (
    status.backups.find((b) => b.device === device && b.target === "usb")?.lastBackup ?? undefined
  );
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  [alphaGateway, betaGateway] = await Promise.all([
    enableGateway(alpha.home),
    enableGateway(beta.home),
  ]);
  await waitFor("beta to know alpha's gateway", async () => {
    const { entries } = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "nodes/",
      "--home",
      beta.home,
    ]);
    return entries.some((entry) => entry.key === "nodes/alpha/gateway") ? true : undefined;
  });
  cookie = await signIn();
  mkdirSync(join(alpha.home, "data"), { recursive: true });
  writeFileSync(join(alpha.home, "data", "mine.txt"), "alpha's own file\n");
  repo = join(scratchDir(), "usb");
  await buckyJson(["backup", "target", "add", "usb", repo, "--home", alpha.home, "--no-backup"]);
}, 60_000);

describe("the panel at another device's gateway", () => {
  let alphaLast: { at: string; snapshot: string };

  test("shows every device's last backup on the backups page, not only its own", async () => {
    await buckyJson(["backup", "run", "--home", alpha.home]);
    alphaLast = (await lastBackupSaid(alpha.home, "alpha")) as { at: string; snapshot: string };
    await waitFor("beta to hear alpha's last backup", async () =>
      (await lastBackupSaid(beta.home, "alpha"))?.snapshot === alphaLast.snapshot
        ? true
        : undefined,
    );
    for (const gateway of [alphaGateway, betaGateway])
      expect(await pageAt(gateway, "backups")).toContain(`datetime="${alphaLast.at}"`);
  }, 30_000);

  test("says on the snapshot list that the target lacks a device's last backup, as backup list does", async () => {
    // The target (off the zone, untrusted) loses alpha's last backup.
    renameSync(join(repo, "snapshots", alphaLast.snapshot), join(scratchDir(), "hidden"));
    const said = en.backups.missingLatest({
      device: "alpha",
      snapshot: alphaLast.snapshot.slice(0, 8),
      time: "\u0000",
      target: "usb",
    });
    // Its time is in the viewer's own words: the rest of the sentence around it.
    const [before, after] = said.split("\u0000");
    const page = await pageAt(betaGateway, "backups/t/usb");
    expect(page).toContain(before as string);
    expect(page).toContain(after as string);
  }, 30_000);

  test("says of every other change none held yet that none does, and the other device holds each once back", async () => {
    // What the actions change, made while beta runs, side by side.
    const site = resolve(import.meta.dir, "../fixtures/apps/site");
    const [{ id: ruleId }] = await Promise.all([
      buckyJson<{ id: string }>([
        ...["rule", "add", "block", "--app", "newsreel", "--role", "child", "--home", alpha.home],
      ]),
      buckyJson([
        ...["backup", "target", "add", "spare", join(scratchDir(), "spare"), "--no-backup"],
        ...["--home", alpha.home],
      ]),
      publishCatalog("panel-apps").then(({ out, publisher }) =>
        buckyJson(["store", "add", out, "--key", publisher, "--home", alpha.home]),
      ),
      buckyJson([
        ...["app", "install", site, "--device", "alpha", "--no-wait", "--home", alpha.home],
      ]),
    ]);
    // Each with beta paused past the bound, side by side: each page says none holds it yet.
    process.kill(beta.pid, "SIGSTOP");
    let answers: (() => Promise<string>)[];
    try {
      // The pages they come back to are read with beta back: an app's page asks it too.
      const shown = (page: Promise<string>) => page.then((text) => () => Promise.resolve(text));
      answers = await Promise.all([
        posted(alphaGateway, `rules/${ruleId}/remove`, {}),
        posted(alphaGateway, "backups/targets/spare/remove", {}),
        posted(alphaGateway, "store/catalogs/panel-apps/remove", {}),
        posted(alphaGateway, "apps/site/limits", { rps: "7", bandwidth: "" }),
        posted(alphaGateway, "devices/beta/approve-gateway", {
          confirm: "1",
          hosts: "beta.lan",
          addresses: "",
        }),
        shown(actShown(alphaGateway, "people/add", { name: "person-ann", role: "member" })),
        shown(actShown(alphaGateway, "agents/grant", { name: "helper", read: "apps" })),
        posted(alphaGateway, "apps/site/move", { to: "beta" }),
        // The command line says it in its text as the panel does (its --json: the CLI tests).
        bucky(["user", "add", "person-bob", "--home", alpha.home]).then(
          (said) => async () => said.stdout,
        ),
      ]);
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
    const pages = await Promise.all(answers.map((read) => read()));
    expect(pages.pop()).toContain(
      "No other device holds the addition yet (none said so within 3 s): keep this device running until another has synced it, or the addition is lost with it.",
    );
    const said = [
      en.rules.removed,
      en.backups.removed({ target: "spare" }),
      en.store.removed({ catalog: "panel-apps" }),
      en.apps.limitsSet({ app: "site" }),
      en.devices.gatewayApproved({ device: "beta" }),
      en.people.added({ person: "person-ann" }),
      "owner-helper",
      en.apps.moving({ app: "site", device: "beta" }),
    ];
    expect(
      pages.map((page, i) => [page.includes(said[i] as string), page.includes(en.held.notYet)]),
    ).toEqual(said.map(() => [true, true]));
    // Beta, back, holds every one of them (with alpha killed, the next case reads its pages).
    await waitFor("beta to hold the changes made while it was paused", async () => {
      const page = (path: string) => pageAt(betaGateway, path);
      const [rules, backups, catalogs, people, agents] = await Promise.all([
        page("rules"),
        page("backups"),
        page("store/catalogs"),
        page("people"),
        page("agents"),
      ]);
      const spec = (await stateValue(beta.home, appKeys.spec("site"))) as
        | { moveTo?: string; placement?: string }
        | undefined;
      const held = [
        !rules.includes("newsreel"),
        !backups.includes("spare"),
        !catalogs.includes("panel-apps"),
        people.includes("person-ann"),
        agents.includes("owner-helper"),
        // The form's empty bandwidth, as the manifest has it (none), stays the manifest's.
        JSON.stringify(await stateValue(beta.home, limitKey("site", "rps"))) ===
          JSON.stringify({ rps: 7 }),
        JSON.stringify(await stateValue(beta.home, appKeys.limits("site"))) ===
          JSON.stringify({ rps: 7, perLimit: true }),
        (await stateValue(beta.home, approvalKey("alpha", "beta"))) !== undefined,
        spec?.moveTo === "beta" || spec?.placement === "beta",
      ];
      return held.every(Boolean) ? true : undefined;
    });
  }, 60_000);

  test("says what runs now and a job's progress are the serving device's own, not the zone's", async () => {
    // Backups running on alpha are in alpha's daemon alone: beta's page says its column is beta's.
    for (const [gateway, device] of [
      [alphaGateway, "alpha"],
      [betaGateway, "beta"],
    ] as const)
      expect(await pageAt(gateway, "backups")).toContain(`Now, on ${device} (this device)`);
    // A job started at alpha's panel is followed there, and said to be alpha's work.
    const started = await fetch(`${alphaGateway}${PANEL}backups/targets/add`, {
      method: "POST",
      headers: { cookie, origin: alphaGateway, "accept-language": "en" },
      body: new URLSearchParams({ name: "jobdisk", url: join(scratchDir(), "jobdisk") }),
      redirect: "manual",
    });
    expect(started.status).toBe(303);
    const job = new URL(started.headers.get("location") ?? "", alphaGateway).pathname.slice(
      PANEL.length,
    );
    expect(await pageAt(alphaGateway, job)).toContain(
      "This work is done by alpha, and followed at its panel only.",
    );
    // At beta's gateway, no job of that id: it says where a job is followed.
    const elsewhere = await fetch(`${betaGateway}${PANEL}${job}`, {
      headers: { cookie, "accept-language": "en" },
      redirect: "manual",
    });
    expect(elsewhere.status).toBe(303);
    const notice = (elsewhere.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(await pageAt(betaGateway, "", notice)).toContain(
      "A job is followed at the device that does it (the one whose panel started it)",
    );
    // Made at beta, it opens at alpha too, as where two gateways answer one name.
    expect(await pageAt(alphaGateway, "", notice)).toContain(
      "A job is followed at the device that does it (the one whose panel started it)",
    );
    await waitFor("alpha's first backup to jobdisk to end", async () => {
      const live = await fetch(`${alphaGateway}${PANEL}${job}/live`, { headers: { cookie } });
      await live.arrayBuffer();
      return live.headers.get("x-bucky-live") === "done" ? true : undefined;
    });
  }, 30_000);

  test("answers a rule only once another device holds it, and says so of a rule and a sign-out none held", async () => {
    // Added at alpha with beta paused: no answer until beta, let go, holds the rule.
    const held = await answeredOnceHeld(
      [beta],
      () => act(alphaGateway, "rules/add", { app: "games", whom: "role:child" }),
      { what: "alpha to write the rule", seen: () => /rule added.*app=games/.test(alpha.log()) },
    );
    expect(held).toContain(en.rules.added);
    expect(held).not.toContain(en.held.notYet);

    // With beta paused past the bound, the pages say no other device holds it yet: a rule's
    // and a sign-out's (of another session), waited for side by side.
    const other = await signIn();
    process.kill(beta.pid, "SIGSTOP");
    let alone: string;
    let signedOut: Response;
    try {
      [alone, signedOut] = await Promise.all([
        act(alphaGateway, "rules/add", { app: "chat", whom: "role:child" }),
        fetch(`${alphaGateway}/_bucky/signout`, {
          method: "POST",
          headers: { cookie: other, origin: alphaGateway, "accept-language": "en" },
          redirect: "manual",
        }),
      ]);
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
    expect(alone).toContain(en.rules.added);
    expect(alone).toContain(en.held.notYet);
    expect(signedOut.headers.get("set-cookie")).toContain("bucky_session=;");
    expect(unescaped(await signedOut.text())).toContain(en.gatewayPages.signOutNotHeldYet);

    // Beta, back, takes it; alpha is gone, and beta's pages still show both rules and
    // alpha's last backup.
    await waitFor("beta to hold the second rule", async () =>
      (await pageAt(betaGateway, "rules")).includes("chat") ? true : undefined,
    );
    await waitFor("beta to hold the sign-out", async () =>
      (await fetch(`${betaGateway}${PANEL}`, { headers: { cookie: other }, redirect: "manual" }))
        .status === 401
        ? true
        : undefined,
    );
    await alpha.kill();
    const rules = await pageAt(betaGateway, "rules");
    expect([rules.includes("games"), rules.includes("chat")]).toEqual([true, true]);
    // And what the case before changed while beta was paused.
    const [people, agents, catalogs, backups] = await Promise.all(
      ["people", "agents", "store/catalogs", "backups"].map((path) => pageAt(betaGateway, path)),
    );
    expect([
      rules.includes("newsreel"),
      people?.includes("person-ann"),
      agents?.includes("owner-helper"),
      catalogs?.includes("panel-apps"),
      backups?.includes("spare"),
    ]).toEqual([false, true, true, false, false]);
    expect(await pageAt(betaGateway, "backups")).toContain(`datetime="${alphaLast.at}"`);
  }, 30_000);
});

describe("the panel's notices", () => {
  test("shows one an app's script planted on no page and clears it; its own still shows, to its session alone", async () => {
    // What a script of an app at a sibling host writes with `domain=<zone host>`: the
    // notice's name and format, with no mac of the gateway's.
    const words = { kind: "error", text: "Your recovery phrase leaked: re-enter it at evil" };
    const planted = `bucky_notice=${Buffer.from(JSON.stringify(words)).toString("base64url")}`;
    const host = new URL(betaGateway).hostname;
    const overview = async (cookies: string) => {
      const response = await fetch(`${betaGateway}${PANEL}`, {
        headers: { cookie: cookies, "accept-language": "en" },
        redirect: "manual",
      });
      const html = unescaped(await response.text());
      return {
        status: response.status,
        notice: /class="notice [^"]*"[^>]*>([^<]*)/.exec(html)?.[1],
        setCookies: response.headers.getSetCookie(),
      };
    };
    const cleared = [
      "bucky_notice=; Path=/_bucky/panel; Max-Age=0",
      `bucky_notice=; Path=/_bucky/panel; Max-Age=0; Domain=${host}`,
    ];
    expect(await overview(`${cookie}; ${planted}`)).toEqual({
      status: 200,
      notice: undefined,
      setCookies: cleared,
    });
    // A notice of the panel's own (a job this gateway does not follow), behind the planted one.
    const refused = await fetch(`${betaGateway}${PANEL}jobs/none`, {
      headers: { cookie, "accept-language": "en" },
      redirect: "manual",
    });
    expect(refused.status).toBe(303);
    const own = (refused.headers.get("set-cookie") ?? "").split(";")[0] as string;
    const shown = await overview(`${cookie}; ${planted}; ${own}`);
    expect(shown.notice).toBe("no such job on this device");
    expect(shown.setCookies).toEqual(cleared);
    // Another session (another browser, signed in by a link of beta's: alpha may be gone by
    // now) is not shown this one's.
    const link = await buckyJson<{ url: string }>(["login-link", "--home", beta.home]);
    const opened = await fetch(link.url, { redirect: "manual" });
    const other = (opened.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect(await overview(`${other}; ${own}`)).toEqual({
      status: 200,
      notice: undefined,
      setCookies: cleared,
    });
  }, 30_000);
});
