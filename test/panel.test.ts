/**
 * The control panel in a real browser (Debian's chromium, driven by playwright-core):
 * signing in through a link, the zone at a glance, inviting a device, installing the
 * static sample app from an uploaded archive and opening it, blocking it with a rule,
 * backing up and seeing the snapshot; by keyboard, on a phone's screen and a desktop's.
 * Screenshots of the main pages go to test/.artifacts/panel/.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import type { DeviceId, ZoneId } from "../protocol/ids.ts";
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
const SHOTS = resolve(import.meta.dir, ".artifacts/panel");
const SITE = resolve(import.meta.dir, "../fixtures/apps/site");
const PANEL = "/_bucky/panel/";

if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: the panel tests need it (apt-get install chromium)`);
}

let alpha: Daemon;
let gateway: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

async function panelLink(): Promise<string> {
  return (await buckyJson<{ url: string }>(["panel", "--home", alpha.home])).url;
}

async function shot(name: string): Promise<void> {
  for (const [width, height, label] of [
    [390, 844, "phone"],
    [1280, 800, "desktop"],
  ] as const) {
    await page.setViewportSize({ width, height });
    await page.screenshot({ path: join(SHOTS, `${name}-${label}.png`), fullPage: true });
  }
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  const zone = await startZone(["alpha", "beta"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  gateway = await enableGateway(alpha.home);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  context = await browser.newContext();
  page = await context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
});

describe("the control panel", () => {
  test("a login link signs the browser in and opens the panel on the zone at a glance", async () => {
    await page.goto(await panelLink());
    expect(new URL(page.url()).pathname).toBe(PANEL);
    await expect(page.getByRole("heading", { name: "Overview" }).isVisible()).resolves.toBe(true);
    const devices = page.locator("table").first();
    await waitFor("both devices", async () =>
      (await devices.textContent())?.includes("beta") ? true : undefined,
    );
    expect(await devices.textContent()).toContain("alpha");
    expect(await page.locator(".level").textContent()).toContain("Reliability level");
    await shot("overview");
  });

  test("the keyboard alone moves between sections", async () => {
    await page.goto(`${gateway}${PANEL}`);
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if ((await page.evaluate("document.activeElement?.textContent")) === "Devices") break;
    }
    await page.keyboard.press("Enter");
    await page.waitForURL(`**${PANEL}devices`);
    expect(await page.getByRole("heading", { name: "Devices" }).isVisible()).toBe(true);
  });

  test("an invitation, as text and as a QR code", async () => {
    await page.goto(`${gateway}${PANEL}devices`);
    await shot("devices");
    await page.getByRole("button", { name: "Create an invitation" }).click();
    const text = await page.locator("#invitation").textContent();
    expect(text).toMatch(/^bucky join \S{40,}$/);
    expect(await page.locator(".qr svg").count()).toBe(1);
    // The invitation works: it is listed by the CLI as active.
    const { invites } = await buckyJson<{ invites: { status: string }[] }>([
      "invite",
      "list",
      "--home",
      alpha.home,
    ]);
    expect(invites.some((i) => i.status === "active")).toBe(true);
  });

  test("an app installed from an uploaded archive runs and opens; a rule then blocks it", async () => {
    const archive = join(scratchDir(), "site.tar.gz");
    expect(spawnSync("tar", ["-czf", archive, "-C", SITE, "."]).status).toBe(0);
    await page.goto(`${gateway}${PANEL}apps`);
    await page.setInputFiles('input[name="archive"]', archive);
    await page.getByRole("button", { name: "Install" }).click();
    expect(await page.getByRole("status").textContent()).toContain("Installed site");
    await waitFor(
      "the site to run",
      async () => {
        await page.reload();
        return (await page.locator("table").first().textContent())?.includes("running")
          ? true
          : undefined;
      },
      20_000,
    );
    await shot("apps");
    const opened = await context.newPage();
    await opened.goto(`${gateway}/apps/site/`);
    expect((await opened.content()).length).toBeGreaterThan(0);
    expect(await opened.title()).not.toContain("No such app");

    await page.goto(`${gateway}${PANEL}rules`);
    await page.selectOption('select[name="app"]', "site");
    await page.getByRole("button", { name: "Add the rule" }).click();
    expect(await page.getByRole("status").textContent()).toMatch(/Rule \S+ added/);
    await shot("rules");
    const blocked = await opened.goto(`${gateway}/apps/site/`);
    expect(blocked?.status()).toBe(403);
    expect(await opened.content()).toContain("Blocked by a rule");
    await opened.close();
  }, 60_000);

  test("back up now, and the snapshot is listed", async () => {
    await buckyJson([
      "backup",
      "target",
      "add",
      "usb",
      join(scratchDir(), "repo"),
      "--home",
      alpha.home,
    ]);
    await page.goto(`${gateway}${PANEL}backups`);
    await page.getByRole("button", { name: "Back up now" }).click();
    expect(await page.getByRole("status").textContent()).toContain("A backup started to usb");
    await waitFor(
      "the snapshot",
      async () => {
        await page.reload();
        return (await page.locator("table").nth(1).count()) > 0 &&
          (await page.locator("table").nth(1).textContent())?.match(/[0-9a-f]{8}/)
          ? true
          : undefined;
      },
      30_000,
    );
    expect(await page.locator("svg.chart").count()).toBeGreaterThan(0);
    await shot("backups");
  }, 60_000);

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

  test("an error from the API is shown as it is, with its hint", async () => {
    await page.goto(`${gateway}${PANEL}apps`);
    await page.fill('input[name="package"]', "sha256:nope");
    await page.getByRole("button", { name: "Install" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("is not a package id");
  });

  test("no session, a forged one or an expired one: refused", async () => {
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
      { zone: zone.id, device: device.id, expiresAt: Math.floor(Date.now() / 1000) - 10 },
      key,
    );
    expect(
      (await fetch(`${gateway}${PANEL}`, { headers: { cookie: `bucky_session=${expired}` } }))
        .status,
    ).toBe(401);
    // A form posted from another site is not acted on, even with a good session.
    const foreign = await fetch(`${gateway}${PANEL}backups/run`, {
      method: "POST",
      headers: { cookie: `bucky_session=${session}`, origin: "http://evil.example" },
      redirect: "manual",
    });
    expect(foreign.status).toBe(403);
  });
});
