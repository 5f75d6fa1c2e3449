/**
 * Family accounts in a real browser (Debian's chromium, driven by playwright-core, with a
 * virtual WebAuthn authenticator standing in for a phone's passkeys). A zone of two
 * devices, each a gateway under the same host name (home.localhost, on two ports): the
 * owner adds a member and a child; the member makes a passkey with her link, the child a
 * password with his; each signs in on both gateways, sees only the apps shared with them,
 * and the app hears who they are (and not what a client claims); a time-window rule blocks
 * the child and not the member; removing the child ends his sessions on both gateways.
 * Wrong passwords, a replayed enrollment link and forged sessions are refused. A passkey
 * made while the other device is away signs the person in and says the account is this
 * gateway's alone for now.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { OWNER_USER, type UserName } from "../protocol/accounts.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import { toBase64url } from "../protocol/encoding.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../protocol/ids.ts";
import { decodeJws } from "../protocol/jws.ts";
import {
  type SessionProof,
  signOwnerLogin,
  signPasswordProof,
  signUserSession,
  verifyUserSession,
} from "../protocol/user-session.ts";
import {
  answeredOnceHeld,
  atName,
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
const HOST = "home.localhost";
const WHOAMI = resolve(import.meta.dir, "../fixtures/apps/whoami");

if (!existsSync(CHROMIUM)) {
  throw new Error(`${CHROMIUM} is missing: the account tests need it (apt-get install chromium)`);
}

let alpha: Daemon;
let beta: Daemon;
/** The two gateways, as the browser reaches them (by name) and as a test reaches them. */
const gateways = { a: { site: "", url: "" }, b: { site: "", url: "" } };
let zoneId: ZoneId;
let browser: Browser;
const links: Record<string, string> = {};
/** Sessions as they were opened: who, on which gateway. */
const sessions: Record<string, string> = {};

/** A request to a gateway with a session, as the browser would send it (by name). */
function through(
  gateway: keyof typeof gateways,
  path: string,
  cookie?: string,
  init: RequestInit = {},
): Promise<Response> {
  const { url, site } = gateways[gateway];
  const headers = new Headers(init.headers);
  const to = atName(site, path);
  headers.set("host", to.host);
  if (cookie) headers.set("cookie", `bucky_session=${cookie}`);
  return fetch(`${url}${to.path}`, { ...init, headers, redirect: "manual" });
}

async function sessionOf(context: BrowserContext): Promise<string> {
  const cookie = (await context.cookies()).find((c) => c.name === "bucky_session");
  expect(cookie?.domain).toMatch(/^\.?home\.localhost$/);
  return cookie?.value as string;
}

/** A page with a virtual passkey authenticator, as a phone with passkeys would be. */
async function phone(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { context, page };
}

function deviceKey(daemon: Daemon) {
  return signingKeyFromSeed(
    readKeyFile(
      join(daemon.home, "identity", "device.key"),
      "device",
      createLog({ level: "silent" }),
    ),
  );
}

/** An app like fixtures/apps/whoami under another name. */
function whoamiAs(id: string): string {
  const dir = join(scratchDir(), id);
  cpSync(WHOAMI, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, "bucky-app.json"), "utf8"));
  writeFileSync(join(dir, "bucky-app.json"), JSON.stringify({ ...manifest, id }));
  return dir;
}

async function running(app: string): Promise<void> {
  await waitFor(
    `${app} to run`,
    async () =>
      (await buckyJson<{ state: string }>(["app", "status", app, "--home", alpha.home])).state ===
      "running"
        ? true
        : undefined,
    30_000,
  );
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], {
    BUCKY_CONVERGE_INTERVAL_MS: "300",
    TZ: "UTC",
  });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  for (const [key, daemon] of [
    ["a", alpha],
    ["b", beta],
  ] as const) {
    const url = await enableGateway(daemon.home, ["--tls", "off", "--host", HOST]); // plain HTTP: a local name would get the zone CA
    gateways[key] = { url, site: `http://${HOST}:${new URL(url).port}` };
  }
  zoneId = (await buckyJson<{ zone: { id: ZoneId } }>(["status", "--home", alpha.home])).zone.id;
  // whoami runs on beta: reached from alpha's gateway through beta's ingress, and from
  // beta's own from its door. diary runs on alpha.
  await buckyJson(["app", "install", WHOAMI, "--device", "beta", "--home", alpha.home]);
  await buckyJson(["app", "install", whoamiAs("diary"), "--device", "alpha", "--home", alpha.home]);
  await Promise.all([running("whoami"), running("diary")]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
});

describe("family accounts", () => {
  test("the owner adds a member and a child: each gets a link any gateway takes", async () => {
    for (const [name, role] of [
      ["ann", "member"],
      ["kid", "child"],
    ] as const) {
      // Said added only once beta holds it: lost with alpha, no device would know them.
      const added = await answeredOnceHeld(
        [beta],
        () =>
          buckyJson<{
            user: string;
            role: string;
            enrollment: {
              url: string;
              gateway: string;
              otherGateways: { gateway: string; url: string }[];
            };
          }>(["user", "add", name, "--role", role, "--home", alpha.home]),
        {
          what: `alpha to add ${name}`,
          seen: () => new RegExp(`person added.*user=${name}`).test(alpha.log()),
        },
      );
      expect(added).toMatchObject({
        user: name,
        role,
        enrollment: { gateway: "alpha" },
        heldElsewhere: "held",
      });
      expect(new URL(added.enrollment.url).origin).toBe(gateways.a.site);
      expect(added.enrollment.otherGateways.map((other) => other.gateway)).toEqual(["beta"]);
      links[name] = added.enrollment.url;
    }
    // Every device knows them once it synced.
    await waitFor("beta to know them", async () =>
      (await buckyJson<{ people: { name: string }[] }>(["user", "list", "--home", beta.home]))
        .people.length === 3
        ? true
        : undefined,
    );
    expect(
      (await buckyJson<{ people: unknown[] }>(["user", "list", "--home", alpha.home])).people,
    ).toEqual([
      {
        name: "owner",
        role: "owner",
        signsInWith: [],
        since: null,
        linkUsedTwice: false,
        passwordChangedTwoWays: false,
      },
      {
        name: "ann",
        role: "member",
        signsInWith: [],
        since: expect.any(String),
        linkUsedTwice: false,
        passwordChangedTwoWays: false,
      },
      {
        name: "kid",
        role: "child",
        signsInWith: [],
        since: expect.any(String),
        linkUsedTwice: false,
        passwordChangedTwoWays: false,
      },
    ]);
  });

  test("ann makes a passkey with her link and is signed in; the link works once", async () => {
    const { context, page } = await phone();
    await page.goto(links.ann as string);
    expect(await page.getByRole("heading").first().textContent()).toContain("ann");
    await page.getByRole("button", { name: "Make a passkey" }).click();
    await page.waitForURL(`${gateways.a.site}/`);
    expect(await page.textContent("body")).toContain("Signed in as ann");
    sessions.annA = await sessionOf(context);
    expect(
      (
        await buckyJson<{ people: { name: string; signsInWith: string[] }[] }>([
          "user",
          "list",
          "--home",
          alpha.home,
        ])
      ).people.find((p) => p.name === "ann")?.signsInWith,
    ).toEqual(["passkey"]);
    // Replayed, the link is refused; on the other gateway too, once it holds the passkey.
    const again = await page.goto(links.ann as string);
    expect(again?.status()).toBe(403);
    expect(await page.textContent("body")).toContain("already used");
    await waitFor("beta to hold ann's passkey", async () =>
      (
        await buckyJson<{ people: { name: string; signsInWith: string[] }[] }>([
          "user",
          "list",
          "--home",
          beta.home,
        ])
      ).people.find((p) => p.name === "ann")?.signsInWith.length === 1
        ? true
        : undefined,
    );
    const elsewhere = await page.goto(
      (links.ann as string).replace(gateways.a.site, gateways.b.site),
    );
    expect(elsewhere?.status()).toBe(403);
    expect(await page.textContent("body")).toContain("already used");

    // Her passkey signs her in on the other gateway too (the same host name).
    await context.clearCookies();
    await page.goto(`${gateways.b.site}/_bucky/signin`);
    await page.fill('input[name="name"]', "ann");
    await page.getByRole("button", { name: "Sign in with a passkey" }).click();
    await page.waitForURL(`${gateways.b.site}/`);
    expect(await page.textContent("body")).toContain("Signed in as ann");
    sessions.annB = await sessionOf(context);
    await context.close();
  });

  test("kid chooses a password; a wrong one, or a mismatched one, is refused", async () => {
    // His link opens at the zone's other gateway too (alpha may be away), and opening it
    // records nothing: only using it does, once (used at both before they sync, it makes
    // no way in at all: test/accounts-zone.test.ts).
    const token = new URL(links.kid as string).searchParams.get("token") as string;
    const elsewhere = await through("b", `/_bucky/enroll?token=${token}`);
    expect(elsewhere.status).toBe(200);
    expect(await elsewhere.text()).toContain("Welcome to");
    expect(beta.log()).not.toContain("person enrolled");

    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(links.kid as string);
    await page.fill('input[name="password"]', "correct horse");
    await page.fill('input[name="confirm"]', "correct house");
    await page.getByRole("button", { name: "Use this password" }).click();
    expect(await page.getByRole("alert").textContent()).toContain("The two passwords differ");
    await page.fill('input[name="password"]', "correct horse");
    await page.fill('input[name="confirm"]', "correct horse");
    await page.getByRole("button", { name: "Use this password" }).click();
    await page.waitForURL(`${gateways.a.site}/`);
    expect(await page.textContent("body")).toContain("Signed in as kid");
    sessions.kidA = await sessionOf(context);

    // On the other gateway: a wrong password, then the right one.
    await context.clearCookies();
    await page.goto(`${gateways.b.site}/_bucky/signin`);
    await page.fill('input[name="name"]', "kid");
    await page.fill('input[name="password"]', "wrong horse");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    expect(await page.getByRole("alert").textContent()).toBe("wrong name or password");
    await page.fill('input[name="password"]', "correct horse");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(`${gateways.b.site}/`);
    sessions.kidB = await sessionOf(context);
    expect(beta.log()).toContain(
      'sign-in refused user=kid with=password client=127.0.0.1 reason="wrong password"',
    );
    expect(beta.log()).toContain("signed in user=kid with=password");
    expect(beta.log() + alpha.log()).not.toContain("horse");
    await context.close();
  });

  test("every session works on both gateways", async () => {
    expect(Object.keys(sessions).sort()).toEqual(["annA", "annB", "kidA", "kidB"]);
    for (const [who, session] of Object.entries(sessions))
      for (const gateway of ["a", "b"] as const) {
        const page = await through(gateway, "/apps/whoami/api/whoami", session);
        expect([who, gateway, page.status]).toEqual([who, gateway, 200]);
      }
  });

  test("each sees the apps shared with them; the panel shows them theirs", async () => {
    await buckyJson(["app", "share", "diary", "--with", "ann", "--home", alpha.home]);
    await waitFor("the share on beta's gateway", async () =>
      (await through("b", "/apps/diary/", sessions.kidB)).status === 403 ? true : undefined,
    );
    const context = await browser.newContext();
    await context.addCookies([
      { name: "bucky_session", value: sessions.kidA as string, domain: `.${HOST}`, path: "/" },
    ]);
    const page = await context.newPage();
    await page.goto(`${gateways.a.site}/`);
    const home = await page.textContent("body");
    expect(home).toContain("whoami");
    expect(home).not.toContain("diary");
    const refused = await page.goto(`${gateways.a.site}/apps/diary/`);
    expect(refused?.status()).toBe(403);
    expect(await page.textContent("body")).toContain("not shared with you");
    await page.goto(`${gateways.a.site}/_bucky/panel/`);
    expect(await page.getByRole("heading", { name: "Your apps" }).isVisible()).toBe(true);
    expect(await page.locator("main").textContent()).not.toContain("diary");
    expect((await page.goto(`${gateways.a.site}/_bucky/panel/devices`))?.status()).toBe(403);
    // ann sees both, and so does the owner.
    for (const session of [sessions.annA, sessions.annB])
      expect((await through("a", "/apps/diary/", session)).status).toBe(200);
    await context.close();
  });

  test("the app hears who is signed in, from bucky alone", async () => {
    const context = await browser.newContext();
    await context.addCookies([
      { name: "bucky_session", value: sessions.kidB as string, domain: `.${HOST}`, path: "/" },
    ]);
    const page = await context.newPage();
    for (const site of [gateways.a.site, gateways.b.site]) {
      await page.goto(`${site}/apps/whoami/`);
      expect(await page.getByRole("heading").textContent()).toBe("Hello, kid");
      // The browser claims to be the owner, spelled two ways: the app never hears it.
      const seen = await page.evaluate(async () => {
        const response = await fetch("/api/whoami", {
          headers: { "Bucky-User": "owner", Bucky_User_Role: "owner", "Bucky-App-User": "x" },
        });
        return response.json();
      });
      expect(seen).toEqual({
        user: "kid",
        role: "child",
        headers: { "bucky-user": "kid", "bucky-user-role": "child" },
        person: { name: "kid", role: "child" },
      });
    }
    await context.close();
  });

  test("another app's page makes no app act as the person, at either gateway; the app's own pages do", async () => {
    // Every app is at a name under the zone's, one site to the browser: it sends ann's
    // cookie along with diary's script's requests to whoami.
    const context = await browser.newContext();
    await context.addCookies([
      { name: "bucky_session", value: sessions.annA as string, domain: `.${HOST}`, path: "/" },
    ]);
    const page = await context.newPage();
    for (const [gateway, daemon] of [
      [gateways.a, alpha],
      [gateways.b, beta],
    ] as const) {
      const port = new URL(gateway.site).port;
      const whoami = `http://whoami.${HOST}:${port}`;
      await page.goto(`${whoami}/`);
      expect(await page.getByRole("heading").textContent()).toBe("Hello, ann");
      // Its own page's POST (which carries its Origin) is ann's.
      const own = await page.evaluate(async () => {
        const response = await fetch("/api/whoami", { method: "POST" });
        return ((await response.json()) as { user: string | null }).user;
      });
      expect([port, own]).toEqual([port, "ann"]);
      // diary's page posts to whoami and opens a WebSocket to it: both refused at the
      // gateway (nothing of either is the page's to read, so its log tells).
      await page.goto(`http://diary.${HOST}:${port}/`);
      const refusals = () => daemon.log().split(/gateway request app=whoami status=403/).length - 1;
      const before = refusals();
      await page.evaluate(async (to) => {
        await fetch(`${to}/api/whoami`, {
          method: "POST",
          mode: "no-cors",
          credentials: "include",
        });
      }, whoami);
      await waitFor("the POST refused", async () => (refusals() === before + 1 ? true : undefined));
      await page.evaluate(
        (to) =>
          new Promise<void>((resolve) => {
            const socket = new WebSocket(`${to.replace("http", "ws")}/api/whoami`);
            socket.onerror = () => resolve();
            socket.onopen = () => resolve();
          }),
        whoami,
      );
      await waitFor("the WebSocket refused", async () =>
        refusals() === before + 2 ? true : undefined,
      );
    }
    await context.close();
  });

  test("a time-window rule blocks the child, not the member", async () => {
    const minute = new Date().getUTCHours() * 60 + new Date().getUTCMinutes();
    const hhmm = (m: number) =>
      `${String(Math.floor(((m + 1440) % 1440) / 60)).padStart(2, "0")}:${String(((m + 1440) % 1440) % 60).padStart(2, "0")}`;
    const rule = await buckyJson<{ id: string }>([
      "rule",
      "add",
      "block",
      "--app",
      "whoami",
      "--user",
      "kid",
      "--between",
      `${hhmm(minute - 60)}-${hhmm(minute + 60)}`,
      "--home",
      alpha.home,
    ]);
    const context = await browser.newContext();
    await context.addCookies([
      { name: "bucky_session", value: sessions.kidA as string, domain: `.${HOST}`, path: "/" },
    ]);
    const page = await context.newPage();
    for (const site of [gateways.a.site, gateways.b.site]) {
      await waitFor(`the rule at ${site}`, async () =>
        (await page.goto(`${site}/apps/whoami/`))?.status() === 403 ? true : undefined,
      );
      expect(await page.textContent("body")).toContain(`rule ${rule.id}`);
      expect(await page.textContent("body")).toContain("for kid");
    }
    for (const gateway of ["a", "b"] as const)
      expect((await through(gateway, "/apps/whoami/", sessions.annA)).status).toBe(200);
    await buckyJson(["rule", "rm", rule.id, "--home", alpha.home]);
    await context.close();
  });

  test("forged sessions are refused", async () => {
    const betaKey = deviceKey(beta);
    const betaId = deviceIdFromPublicKey(betaKey.publicKey);
    const now = Math.floor(Date.now() / 1000);
    const claims = (user: string) => ({
      zone: zoneId,
      user: user as UserName,
      gateway: betaId,
      nonce: toBase64url(new Uint8Array(16).fill(1)),
      issuedAt: now,
      expiresAt: now + 3600,
    });
    const forge = (user: string, proof: SessionProof) =>
      signUserSession(claims(user), proof, betaKey);
    const stranger = signingKeyFromSeed(new Uint8Array(32).fill(9));
    // ann's real session, from alpha's gateway, re-signed by beta as its own.
    const real = verifyUserSession(sessions.annA as string, zoneId, now);
    const forged = {
      "a bit changed": `${(sessions.annA as string).slice(0, -2)}${(sessions.annA as string).endsWith("A") ? "BB" : "AA"}`,
      "a member device's owner session, with a link it signed": forge(OWNER_USER, {
        k: "owner",
        link: signOwnerLogin(
          {
            zone: zoneId,
            gateway: betaId,
            device: betaId,
            nonce: new Uint8Array(16),
            expiresAt: now + 60,
          },
          betaKey,
        ).jws,
      }),
      "kid's session with another password's proof": forge("kid", {
        k: "password",
        cred: (decodeJws(sessions.kidA as string).payload as { proof: { cred: string } }).proof
          .cred,
        sig: signPasswordProof(claims("kid"), stranger),
      }),
      "ann's passkey proof under another gateway's signature": forge("ann", real.proof),
    };
    const context = await browser.newContext();
    const page = await context.newPage();
    for (const [what, cookie] of Object.entries(forged)) {
      for (const gateway of ["a", "b"] as const) {
        const answer = await through(gateway, "/_bucky/panel/", cookie);
        expect([what, gateway, answer.status]).toEqual([what, gateway, 401]);
      }
      await context.clearCookies();
      await context.addCookies([
        { name: "bucky_session", value: cookie, domain: `.${HOST}`, path: "/" },
      ]);
      await page.goto(`${gateways.a.site}/apps/whoami/`);
      expect([what, await page.title()]).toEqual([what, "Sign in to reach this app"]);
    }
    await context.close();
  });

  test("removing a person ends their sessions on both gateways", async () => {
    await buckyJson(["user", "remove", "kid", "--home", alpha.home]);
    await waitFor(
      "kid's sessions to end everywhere",
      async () => {
        const statuses = await Promise.all(
          [sessions.kidA, sessions.kidB].flatMap((session) =>
            (["a", "b"] as const).map(
              async (gateway) => (await through(gateway, "/apps/whoami/", session)).status,
            ),
          ),
        );
        return statuses.every((status) => status === 401) ? statuses : undefined;
      },
      20_000,
    );
    const page = await through("b", "/apps/whoami/", sessions.kidA);
    expect(await page.text()).toContain("kid is no longer a person of this zone");
    // ann's sessions carry on.
    for (const gateway of ["a", "b"] as const)
      expect((await through(gateway, "/apps/whoami/", sessions.annB)).status).toBe(200);
  });

  test("a passkey made while no other device hears: signed in, and told this gateway alone holds it", async () => {
    const added = await buckyJson<{ enrollment: { url: string } }>([
      "user",
      "add",
      "eve",
      "--home",
      alpha.home,
    ]);
    await beta.kill();
    const { context, page } = await phone();
    await page.goto(added.enrollment.url);
    await page.getByRole("button", { name: "Make a passkey" }).click();
    // Not sent on to the start page as if the account were safe: lost with alpha, it was never made.
    expect(await page.getByRole("alert").textContent()).toContain(
      "no other device of the zone has heard of your account yet",
    );
    expect(new URL(page.url()).pathname).toBe("/_bucky/enroll");
    await page.goto(`${gateways.a.site}/`);
    expect(await page.textContent("body")).toContain("Signed in as eve");
    await context.close();
  });
});
