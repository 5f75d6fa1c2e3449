/**
 * The control panel in a real browser (Debian's chromium, driven by playwright-core), as
 * a person who never opens a terminal uses it: signing in through a link, the zone at a
 * glance, installing an app from the built-in store and opening it (the install followed
 * live), adding a catalog signed by a test publisher (and refusing one whose signature
 * does not match), updating an app from a newer catalog with its data kept, adding a
 * backup target, backing up, looking into the snapshot and downloading one file
 * byte-exact and putting it back; inviting a device, rules. Then every page: at 360 px
 * nothing wider than the screen, no serious or critical accessibility violation
 * (axe-core), in Chinese no English string of the English catalog, no text asking to type
 * a command; and a screenshot of each at phone and desktop widths in both languages,
 * saved under test/.artifacts/panel/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { en } from "../lib/i18n/en.ts";
import { zhCN } from "../lib/i18n/zh-CN.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { type DeviceId, publisherIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { signSession } from "../protocol/session.ts";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const CHROMIUM = "/usr/bin/chromium";
const CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
const SHOTS = resolve(import.meta.dir, ".artifacts/panel");
const SITE = resolve(import.meta.dir, "../fixtures/apps/site");
const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
const PANEL = "/_bucky/panel/";

if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: the panel tests need it (apt-get install chromium)`);
}
if (!existsSync(CJK_FONT)) {
  throw new Error(
    `${CJK_FONT} is missing: the Chinese pages need a font to be read (apt-get install fonts-wqy-microhei)`,
  );
}

let alpha: Daemon;
let beta: Daemon;
let gateway: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** The test publisher's catalogs, served over HTTP as any web server would. */
let catalogs: ReturnType<typeof Bun.serve>;
const served = new Map<string, string>();
/** Where the test publisher keeps its key and makes its catalogs. */
let publisherDir: string;
/** Pages worth looking at once everything exists: [name, path]. */
const pages: [string, string][] = [];

async function panelLink(): Promise<string> {
  return (await buckyJson<{ url: string }>(["panel", "--home", alpha.home])).url;
}

/** Waits, without reloading, until `selector` is on the page (the live part got there). */
async function untilShown(selector: string, timeoutMs = 60_000): Promise<void> {
  await page.waitForSelector(selector, { timeout: timeoutMs });
}

/** A catalog of one app, memo (the notes app under another id), at `version`, published. */
async function publishMemo(
  dir: string,
  catalogVersion: number,
  appVersion: string,
): Promise<{ out: string; publisher: string }> {
  const appDir = join(dir, `memo-${appVersion}`);
  cpSync(NOTES, appDir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(appDir, "bucky-app.json"), "utf8"));
  writeFileSync(
    join(appDir, "bucky-app.json"),
    JSON.stringify({ ...manifest, id: "memo", version: appVersion }),
  );
  writeFileSync(join(appDir, "README.txt"), `Memo ${appVersion}: notes under another name.`);
  const spec = join(dir, `catalog-${catalogVersion}.json`);
  writeFileSync(
    spec,
    JSON.stringify({
      name: "test-apps",
      title: { en: "Test apps", "zh-CN": "测试应用" },
      version: catalogVersion,
      apps: [
        {
          dir: `memo-${appVersion}`,
          title: { en: "Memo", "zh-CN": "备忘" },
          summary: { en: "Short notes", "zh-CN": "简短的笔记" },
          description: { en: `memo-${appVersion}/README.txt` },
          icon: `memo-${appVersion}/icon.svg`,
        },
      ],
    }),
  );
  const out = join(dir, `out-${catalogVersion}`);
  const published = await buckyJson<{ publisher: string }>([
    "store",
    "publish",
    spec,
    "--key",
    join(dir, "publisher.key"),
    "--out",
    out,
  ]);
  return { out, publisher: published.publisher };
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const zone = await startZone(["alpha", "beta"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gateway = await enableGateway(alpha.home);
  catalogs = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const [, name, ...rest] = new URL(request.url).pathname.split("/");
      const dir = served.get(name ?? "");
      const file = dir ? Bun.file(join(dir, ...rest.map(decodeURIComponent))) : undefined;
      return file && (await file.exists()) ? new Response(file) : new Response("", { status: 404 });
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  context = await browser.newContext({ locale: "en-US", acceptDownloads: true });
  page = await context.newPage();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  catalogs?.stop(true);
});

describe("the control panel", () => {
  test("a login link signs the browser in and opens the panel on the zone at a glance", async () => {
    await page.goto(await panelLink());
    expect(new URL(page.url()).pathname).toBe(PANEL);
    expect(await page.getByRole("heading", { name: "Overview", level: 1 }).isVisible()).toBe(true);
    await waitFor("both devices", async () => {
      await page.reload();
      return (await page.locator("table").first().textContent())?.includes("beta")
        ? true
        : undefined;
    });
    expect(await page.locator(".level").textContent()).toContain("Reliability level 0");
    // The way out of level 0 is a link that goes there, not a command to type.
    await page.getByRole("link", { name: "Add a backup target" }).first().click();
    await page.waitForURL(`**${PANEL}backups#add`);
    pages.push(["overview", ""]);
  });

  test("the keyboard alone moves between sections, past the menu too", async () => {
    await page.goto(`${gateway}${PANEL}`);
    await page.keyboard.press("Tab");
    expect(await page.evaluate("document.activeElement?.textContent")).toBe("Skip to the content");
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate("document.activeElement?.textContent")) === "Devices") break;
    }
    await page.keyboard.press("Enter");
    await page.waitForURL(`**${PANEL}devices`);
    expect(await page.getByRole("heading", { name: "Devices", level: 1 }).isVisible()).toBe(true);
  });

  test("an app from the built-in store: one tap installs it, the page follows it live, it opens", async () => {
    await page.goto(`${gateway}${PANEL}store`);
    pages.push(["store", "store"]);
    await page.getByRole("link", { name: "Web site" }).click();
    pages.push(["store-app", new URL(page.url()).pathname.slice(PANEL.length)]);
    expect(await page.getByRole("heading", { name: "Web site", level: 1 }).isVisible()).toBe(true);
    expect(await page.locator("main").textContent()).toContain("open to anyone");
    await page.getByRole("button", { name: "Install Web site" }).click();
    await page.waitForURL(`**${PANEL}jobs/*`);
    pages.push(["job", new URL(page.url()).pathname.slice(PANEL.length)]);
    // The page is not reloaded: the script follows the job and shows how it ended.
    await page.evaluate("window.notReloaded = true");
    await untilShown(".notice.ok");
    expect(await page.evaluate("window.notReloaded")).toBe(true);
    expect(await page.locator(".notice.ok").textContent()).toContain("site 1.0.0 is installed");
    await waitFor("site to run", async () =>
      (await fetch(`${gateway}/apps/site/`)).status === 200 ? true : undefined,
    );
    const opened = await context.newPage();
    await opened.goto(`${gateway}/apps/site/`);
    expect(await opened.title()).toBe("Hello from my zone");
    // At a port of its own (a gateway without a name): an origin apart from the panel's,
    // whose pages its script cannot read as the person signed in.
    const origin = new URL(opened.url()).origin;
    expect(origin).not.toBe(gateway);
    const readPanel = (from: Page) =>
      from.evaluate(async (url) => {
        try {
          const response = await fetch(url, { credentials: "include" });
          return `read: ${response.status}`;
        } catch {
          return "refused";
        }
      }, `${gateway}${PANEL}`);
    expect([await readPanel(opened), await readPanel(page)]).toEqual(["refused", "read: 200"]);
    await opened.close();
    await page.goto(`${gateway}${PANEL}apps`);
    pages.push(["apps", "apps"]);
    expect(await page.locator("main").textContent()).toContain("site");
    expect(await page.locator(".card img.icon").count()).toBeGreaterThan(0);
    await page.getByRole("link", { name: "Manage site" }).click();
    pages.push(["app", "apps/site"]);
    expect(await page.getByRole("button", { name: "Stop" }).isVisible()).toBe(true);
  }, 90_000);

  test("a catalog signed by a test publisher is added once its key is accepted; an altered one is refused", async () => {
    publisherDir = scratchDir();
    const dir = publisherDir;
    const v1 = await publishMemo(dir, 1, "1.0.0");
    served.set("good", v1.out);
    // The same catalog, one character of its signed payload changed on its way.
    const altered = join(dir, "altered");
    cpSync(v1.out, altered, { recursive: true });
    const jws = readFileSync(join(altered, "catalog.jws"), "utf8").trim();
    const [header, payload, signature] = jws.split(".") as [string, string, string];
    const changed = payload.slice(0, 40) + (payload[40] === "A" ? "B" : "A") + payload.slice(41);
    writeFileSync(join(altered, "catalog.jws"), `${header}.${changed}.${signature}`);
    served.set("altered", altered);
    const base = `http://127.0.0.1:${catalogs.port}`;

    await page.goto(`${gateway}${PANEL}store/catalogs`);
    pages.push(["catalogs", "store/catalogs"]);
    await page.fill('input[name="source"]', `${base}/altered/`);
    await page.getByRole("button", { name: "Read it" }).first().click();
    expect(await page.getByRole("alert").textContent()).toContain("does not verify");

    await page.fill('input[name="source"]', `${base}/good/`);
    await page.getByRole("button", { name: "Read it" }).first().click();
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe(
      "Accept this publisher?",
    );
    // The key shown is the test publisher's, in groups a person can compare.
    expect((await page.locator("#publisher").textContent())?.replace(/\s+/g, "")).toBe(
      v1.publisher,
    );
    await page.screenshot({ path: join(SHOTS, "catalog-preview-en-desktop.png"), fullPage: true });
    // A form that accepts another key than the one that signed it adds nothing.
    const other = signingKeyFromSeed(new Uint8Array(randomBytes(32)));
    await page
      .locator('input[name="publisher"]')
      .evaluate(
        (input, id) => Object.assign(input, { value: id }),
        publisherIdFromPublicKey(other.publicKey),
      );
    await page.getByRole("button", { name: "Accept the key and add the catalog" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("not by the accepted publisher");

    await page.fill('input[name="source"]', `${base}/good/`);
    await page.getByRole("button", { name: "Read it" }).first().click();
    await page.getByRole("button", { name: "Accept the key and add the catalog" }).click();
    expect(await page.getByRole("status").textContent()).toContain(
      "test-apps (version 1) is added",
    );
    await page.goto(`${gateway}${PANEL}store?q=memo`);
    expect(await page.getByRole("link", { name: "Memo" }).isVisible()).toBe(true);
    expect(await page.locator("main").textContent()).toContain("Short notes");
  }, 90_000);

  test("an app is updated from a newer version of its catalog, its data kept", async () => {
    await page.goto(`${gateway}${PANEL}store/app/test-apps/memo`);
    await page.getByRole("button", { name: "Install Memo" }).click();
    await untilShown(".notice.ok");
    await waitFor("memo to answer", async () =>
      (await fetch(`${gateway}/apps/memo/api/notes`)).status === 200 ? true : undefined,
    );
    const wrote = await fetch(`${gateway}/apps/memo/api/notes`, {
      method: "POST",
      body: JSON.stringify({ text: "kept across the update" }),
    });
    expect(wrote.status).toBe(201);

    // Version 2 of the catalog, by the same publisher (its key), at the same address.
    const v2 = await publishMemo(publisherDir, 2, "1.1.0");
    served.set("good", v2.out);
    await page.goto(`${gateway}${PANEL}store/catalogs`);
    await page.getByRole("button", { name: "Check for updates" }).click();
    expect(await page.getByRole("status").textContent()).toContain("updated to version 2");
    await page.goto(`${gateway}${PANEL}apps`);
    expect(await page.locator("main").textContent()).toContain("Version 1.1.0 is available");
    await page.getByRole("link", { name: "Manage memo" }).click();
    await page.getByRole("button", { name: "Update to 1.1.0" }).click();
    await untilShown(".notice.ok");
    expect(await page.locator(".notice.ok").textContent()).toContain("updated from 1.0.0 to 1.1.0");
    const notes = await waitFor(
      "memo 1.1.0 to answer",
      async () => {
        const answer = await fetch(`${gateway}/apps/memo/api/notes`);
        if (answer.status !== 200) return undefined;
        const body = (await answer.json()) as { version: string; notes: { text: string }[] };
        return body.version === "1.1.0" ? body : undefined;
      },
      30_000,
    );
    expect(notes.notes.map((n) => n.text)).toEqual(["kept across the update"]);
  }, 120_000);

  test("a directory target added in the panel, a backup, a file downloaded byte-exact and put back", async () => {
    const photo = new Uint8Array(randomBytes(300_000));
    mkdirSync(join(alpha.home, "data", "photos"), { recursive: true });
    writeFileSync(join(alpha.home, "data", "photos", "cat.bin"), photo);
    const repo = join(scratchDir(), "usb");
    await page.goto(`${gateway}${PANEL}backups`);
    await page.locator('form[action$="backups/targets/add"] input[name="name"]').fill("usb");
    await page.locator('form[action$="backups/targets/add"] input[name="url"]').fill(repo);
    await page.getByRole("button", { name: "Add and back up" }).click();
    await page.waitForURL(`**${PANEL}jobs/*`);
    await untilShown(".notice.ok", 90_000);
    expect(await page.locator(".notice.ok").textContent()).toContain("every part of it checks out");

    await page.goto(`${gateway}${PANEL}backups`);
    pages.push(["backups", "backups"]);
    await page.getByRole("button", { name: "Back up now" }).click();
    expect(await page.getByRole("status").textContent()).toContain("Backing up to usb");
    // The backup ends on the page itself: the live part says the target is idle again.
    await waitFor(
      "the backup to end",
      async () =>
        (await page.locator("table").first().textContent())?.includes("idle") ? true : undefined,
      60_000,
    );
    await page.getByRole("link", { name: "Snapshots" }).click();
    pages.push(["snapshots", "backups/t/usb"]);
    expect(await page.locator("figure.chart").count()).toBe(1);
    await page
      .getByRole("link", { name: /^Look inside/ })
      .first()
      .click();
    // Only what people keep is shown: the apps' data and their files.
    expect(await page.locator("main table").textContent()).not.toContain("identity");
    await page.getByRole("link", { name: "Your files" }).click();
    await page.getByRole("link", { name: "photos" }).click();
    pages.push([
      "snapshot",
      new URL(page.url()).pathname.slice(PANEL.length) + new URL(page.url()).search,
    ]);
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("link", { name: "Download cat.bin" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("cat.bin");
    const downloaded = new Uint8Array(readFileSync(await download.path()));
    expect(Buffer.compare(downloaded, photo)).toBe(0);

    // The device's key, the zone state and named data stay out of a browser's reach,
    // whatever path is asked for.
    const snapshot = new URL(page.url()).pathname;
    const session = (await context.cookies()).find((c) => c.name === "bucky_session")?.value;
    for (const path of [
      "identity/device.key",
      "state.db",
      "data/../identity/device.key",
      "apps/memo/package/bucky-app.json",
    ]) {
      const answer = await fetch(
        `${gateway}${snapshot}/download?path=${encodeURIComponent(path)}`,
        {
          headers: { cookie: `bucky_session=${session}` },
          redirect: "manual",
        },
      );
      expect([path, answer.status, answer.headers.get("content-disposition")]).toEqual([
        path,
        303,
        null,
      ]);
    }

    await page.getByRole("button", { name: "Restore cat.bin" }).click();
    await untilShown(".notice.ok");
    const restoredAs = (await page.locator(".notice.ok").textContent()) ?? "";
    const name = /Restored as data\/photos\/(.+) \(/.exec(restoredAs)?.[1] as string;
    expect(name).toMatch(/^cat \(restored \d{4}-\d{2}-\d{2}\)\.bin$/);
    expect(Buffer.compare(readFileSync(join(alpha.home, "data", "photos", name)), photo)).toBe(0);
    // What was there is untouched.
    expect(Buffer.compare(readFileSync(join(alpha.home, "data", "photos", "cat.bin")), photo)).toBe(
      0,
    );
  }, 180_000);

  test("an invitation, as text to copy and as a QR code", async () => {
    await page.goto(`${gateway}${PANEL}devices`);
    pages.push(["devices", "devices"]);
    await page.getByRole("button", { name: "Create an invitation" }).click();
    expect(await page.locator("#invitation").textContent()).toMatch(/^\S{40,}$/);
    expect(await page.locator(".qr svg").count()).toBe(1);
    expect(await page.getByRole("button", { name: "Copy" }).isVisible()).toBe(true);
    const { invites } = await buckyJson<{ invites: { status: string }[] }>([
      "invite",
      "list",
      "--home",
      alpha.home,
    ]);
    expect(invites.some((i) => i.status === "active")).toBe(true);

    // Each of the zone's invitations names the device that admits with it; one withdrawn
    // here is seen revoked on every device.
    const made = await buckyJson<{ id: string }>(["invite", "--home", alpha.home]);
    await page.goto(`${gateway}${PANEL}devices`);
    const row = page.locator("tr", { has: page.locator(`form[action*="${made.id}"]`) });
    expect(await row.locator('td[data-label="Joins through (must be online)"]').textContent()).toBe(
      "alpha",
    );
    await row.getByRole("button", { name: "Withdraw" }).click();
    expect(await page.getByRole("status").textContent()).toContain("The invitation is withdrawn");
    expect(await page.locator(`form[action*="${made.id}"]`).count()).toBe(0);
    const onBeta = await waitFor("beta to see the invitation withdrawn", async () => {
      const listed = await buckyJson<{ invites: { id: string; status: string }[] }>([
        "invite",
        "list",
        "--home",
        beta.home,
      ]);
      const it = listed.invites.find((i) => i.id === made.id);
      return it?.status === "revoked" ? it : undefined;
    });
    expect(onBeta).toMatchObject({ inviter: "alpha", revokedBy: ["alpha"] });
  });

  test("a rule blocks an app at some hours on some days", async () => {
    await page.goto(`${gateway}${PANEL}rules`);
    pages.push(["rules", "rules"]);
    await page.selectOption('select[name="app"]', "site");
    await page.getByRole("button", { name: "Add the rule" }).click();
    expect(await page.getByRole("status").textContent()).toContain("The rule is added");
    const blocked = await fetch(`${gateway}/apps/site/`);
    expect(blocked.status).toBe(403);
    await page.getByRole("button", { name: "Remove" }).click();
    // The hours are the person's: read in the browser's time zone, not the serving device's.
    const devtools = await context.newCDPSession(page);
    await devtools.send("Emulation.setTimezoneOverride", { timezoneId: "Pacific/Kiritimati" });
    await page.reload();
    await page.fill('input[name="from"]', "21:00");
    await page.fill('input[name="to"]', "07:00");
    await page.check('input[value="sat"]');
    await page.check('input[value="sun"]');
    await page.selectOption('select[name="app"]', "site");
    await page.getByRole("button", { name: "Add the rule" }).click();
    expect(await page.locator("main table").textContent()).toContain("from 21:00 to 07:00");
    expect(await page.locator("main table").textContent()).toContain("on Saturday and Sunday");
    expect(await page.locator("main table").textContent()).toContain("Pacific/Kiritimati");
    await devtools.send("Emulation.setTimezoneOverride", { timezoneId: "" });
    await devtools.detach();
    pages.push(["people", "people"], ["agents", "agents"]);
  });

  test("the CLI installs the same ways: from an archive, and from a stored package's id", async () => {
    const archive = join(scratchDir(), "site-cli.tar");
    expect(spawnSync("tar", ["-cf", archive, "-C", SITE, "."]).status).toBe(0);
    const fromArchive = await buckyJson<{ app: string; package: string }>([
      "app",
      "install",
      archive,
      "--home",
      alpha.home,
    ]);
    expect(fromArchive.app).toBe("site");
    const fromId = await buckyJson<{ app: string; package: string }>([
      "app",
      "install",
      fromArchive.package,
      "--home",
      alpha.home,
    ]);
    expect(fromId).toMatchObject({ app: "site", package: fromArchive.package });
  });

  test("the overview lists the certificates and offers the zone CA's root for download", async () => {
    await page.goto(`${gateway}${PANEL}`);
    await expect(page.getByRole("heading", { name: "Certificates" }).isVisible()).resolves.toBe(
      true,
    );
    const link = page.getByRole("link", { name: "Download its root" });
    const href = await link.getAttribute("href");
    expect(href).toBe(`${PANEL}zone-ca.crt`);
    const session = (await context.cookies()).find((c) => c.name === "bucky_session")?.value;
    const download = await fetch(`${gateway}${href}`, {
      headers: { cookie: `bucky_session=${session}` },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toBe("application/x-x509-ca-cert");
    const pem = await download.text();
    // The same root `bucky ca export` prints, a CA certificate.
    const exported = await buckyJson<{ pem: string }>(["ca", "export", "--home", alpha.home]);
    expect(pem).toBe(exported.pem);
    expect(new X509Certificate(pem).ca).toBe(true);
  });

  test("the overview shows where each device's space goes, each app's share drawn", async () => {
    const status = await buckyJson<{
      disk: { device: string; usage: { apps: Record<string, unknown> } | null }[];
    }>(["status", "--disk", "--home", alpha.home]);
    const apps = Object.keys(status.disk.find((d) => d.device === "alpha")?.usage?.apps ?? {});
    // The apps installed above: some of them take space on alpha.
    expect(apps.length).toBeGreaterThan(0);
    await page.goto(`${gateway}${PANEL}`);
    expect(await page.locator("#disk + table").textContent()).toContain("alpha");
    const chart = page.getByRole("img", { name: "Space each app takes on alpha" });
    const bars = await chart.locator("rect title").allTextContents();
    expect(bars.map((bar) => bar.split(":")[0]).sort()).toEqual(apps.sort());
    for (const bar of bars) expect(bar).toMatch(/: \d+(\.\d)? (B|KiB|MiB|GiB)$/);
  });

  test("an error from the API is shown as it is", async () => {
    await page.goto(`${gateway}${PANEL}apps`);
    await page.getByText("Install from a file").click();
    await page.fill('input[name="package"]', "sha256:nope");
    await page.getByRole("button", { name: "Install", exact: true }).click();
    expect(await page.getByRole("alert").textContent()).toContain("is not a package id");
  });

  test("every page fits 360 px, passes axe-core, asks for no command; screenshots in both languages", async () => {
    const zh = await browser.newContext({ locale: "zh-CN" });
    await zh.addCookies(await context.cookies());
    const zhPage = await zh.newPage();
    // Names in the zone are data, not words: a person may be called "owner".
    const names = new Set([
      ...(
        await buckyJson<{ people: { name: string }[] }>(["user", "list", "--home", alpha.home])
      ).people.map((p) => p.name),
      ...(
        await buckyJson<{ apps: { app: string }[] }>(["app", "list", "--home", alpha.home])
      ).apps.map((a) => a.app),
    ]);
    const english = englishStrings().filter((word) => !names.has(word));
    /** What is wrong with the panel's page at `path` in one language's tab. */
    const check = async (name: string, path: string, language: string, tab: Page) => {
      const problems: string[] = [];
      await tab.setViewportSize({ width: 360, height: 740 });
      await tab.goto(`${gateway}${PANEL}${path}`);
      const { scrollWidth, innerWidth } = (await tab.evaluate(
        "({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth })",
      )) as { scrollWidth: number; innerWidth: number };
      if (scrollWidth > innerWidth)
        problems.push(`${name} (${language}) is ${scrollWidth} px wide at 360`);
      await tab.screenshot({
        path: join(SHOTS, `${name}-${language}-phone.png`),
        fullPage: true,
      });
      // axe.run in the page itself: the panel has no frames, which is all the default
      // (axe.runPartial in each frame, finished in a blank page opened for it) adds, at
      // twice the time. Only violations are read, so only they are gathered whole.
      const axe = await new AxeBuilder({ page: tab })
        .setLegacyMode(true)
        .options({ resultTypes: ["violations"] })
        .analyze();
      for (const v of axe.violations)
        if (v.impact === "serious" || v.impact === "critical")
          problems.push(
            `${name} (${language}): ${v.id} ${v.impact}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
          );
      const texts = (await tab.evaluate(`(() => {
        const found = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode())
          if (node.textContent.trim()) found.push(node.textContent.trim());
        for (const element of document.querySelectorAll("[aria-label],[title],[placeholder],[alt]"))
          for (const attribute of ["aria-label", "title", "placeholder", "alt"])
            if (element.getAttribute(attribute)) found.push(element.getAttribute(attribute));
        found.push(document.title);
        return found;
      })()`)) as string[];
      if (language === "zh-CN") {
        for (const word of english)
          if (texts.some((text) => (word.length >= 12 ? text.includes(word) : text === word)))
            problems.push(`${name} (zh-CN) says "${word}" in English`);
      }
      if (
        texts.some((text) =>
          /\bbucky (app|backup|store|devices|invite|join|gateway|rule|user|state|agent)\b/.test(
            text,
          ),
        )
      )
        problems.push(`${name} (${language}) asks to type a command`);
      await tab.setViewportSize({ width: 1280, height: 800 });
      await tab.screenshot({
        path: join(SHOTS, `${name}-${language}-desktop.png`),
        fullPage: true,
      });
      return problems;
    };
    const problems: string[] = [];
    // Both languages at once, each in its own browser context (a renderer each): the
    // checks are the browser's work, and two cores do it in little more than half the time.
    for (const [name, path] of pages) {
      const found = await Promise.all([
        check(name, path, "en", page),
        check(name, path, "zh-CN", zhPage),
      ]);
      problems.push(...found.flat());
    }
    await zh.close();
    if (problems.length > 0) console.log(problems.join("\n"));
    expect(problems).toEqual([]);
  }, 240_000);

  test("no session, a forged one or an expired one: refused; a form from another site: not acted on", async () => {
    expect((await fetch(`${gateway}${PANEL}`)).status).toBe(401);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "bucky_session")?.value as string;
    const forged = session.slice(0, -2) + (session.endsWith("A") ? "BB" : "AA");
    expect(
      (await fetch(`${gateway}${PANEL}`, { headers: { cookie: `bucky_session=${forged}` } }))
        .status,
    ).toBe(401);
    const { zone, device } = await buckyJson<{ zone: { id: ZoneId }; device: { id: DeviceId } }>([
      "status",
      "--home",
      alpha.home,
    ]);
    const key = signingKeyFromSeed(
      readKeyFile(
        join(alpha.home, "identity", "device.key"),
        "device",
        createLog({ level: "silent" }),
      ),
    );
    const expired = signSession(
      {
        zone: zone.id,
        device: device.id,
        nonce: new Uint8Array(16),
        expiresAt: Math.floor(Date.now() / 1000) - 10,
      },
      key,
    );
    expect(
      (await fetch(`${gateway}${PANEL}`, { headers: { cookie: `bucky_session=${expired}` } }))
        .status,
    ).toBe(401);
    const foreignHeaders: Record<string, string>[] = [
      { origin: "http://evil.example" },
      { origin: "null", "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const headers of foreignHeaders) {
      const foreign = await fetch(`${gateway}${PANEL}backups/run`, {
        method: "POST",
        headers: { cookie: `bucky_session=${session}`, ...headers },
        redirect: "manual",
      });
      expect(foreign.status).toBe(403);
    }
  });
});

/**
 * The English catalog's fixed strings that Chinese says otherwise: none of them may
 * show on a Chinese page (the commands' words are not the panel's, so they are left out).
 */
function englishStrings(): string[] {
  const found: string[] = [];
  const walk = (english: unknown, chinese: unknown) => {
    if (typeof english === "string") {
      if (english !== chinese) found.push(english);
      return;
    }
    if (typeof english !== "object" || english === null) return;
    for (const [key, value] of Object.entries(english))
      walk(value, (chinese as Record<string, unknown>)[key]);
  };
  const { cli: _cli, language: _language, ...panel } = en;
  const { cli: _zcli, language: _zlanguage, ...zhPanel } = zhCN;
  walk(panel, zhPanel);
  return found;
}
