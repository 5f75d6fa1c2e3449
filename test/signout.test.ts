/**
 * Signing out ends the session on every gateway of the zone, not only in the browser
 * that signed out: a copy of the cookie is refused at the other gateway as soon as it
 * hears of the sign-out, and still after the gateway that took the sign-out is gone and
 * the other has restarted. A person's session and a device's alike; another session of
 * the same person is untouched.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let alphaGateway: string;
let betaGateway: string;

/** Signs in with a new login link made on `home`'s device, at the gateway it names. */
async function signIn(home: string): Promise<{ cookie: string; gateway: string }> {
  const link = new URL((await buckyJson<{ url: string }>(["login-link", "--home", home])).url);
  const opened = await fetch(link, { redirect: "manual" });
  expect(opened.status).toBe(303);
  return {
    cookie: (opened.headers.get("set-cookie") ?? "").split(";")[0] as string,
    gateway: link.origin,
  };
}

/** The control panel at `gateway` with `cookie`: its status, and its text. */
async function panelAt(gateway: string, cookie: string): Promise<[number, string]> {
  const response = await fetch(`${gateway}/_bucky/panel/`, {
    headers: { cookie },
    redirect: "manual",
  });
  return [response.status, await response.text()];
}

async function signOutAt(gateway: string, cookie: string): Promise<Response> {
  return fetch(`${gateway}/_bucky/signout`, {
    method: "POST",
    headers: { cookie },
    redirect: "manual",
  });
}

/** Waits until `cookie` is refused at `gateway` as signed out. */
async function refusedAt(gateway: string, cookie: string): Promise<void> {
  await waitFor(`the sign-out at ${gateway}`, async () => {
    const [status, text] = await panelAt(gateway, cookie);
    return status === 401 && text.includes("your session was signed out") ? true : undefined;
  });
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  alphaGateway = await enableGateway(alpha.home);
  betaGateway = await enableGateway(beta.home);
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
}, 60_000);

describe("signing out", () => {
  test("ends the session on every gateway, and stays ended with the gateway that took it gone", async () => {
    // The owner's sessions (a link made with the owner key opens one at alpha's gateway).
    const person = await signIn(alpha.home);
    const other = await signIn(alpha.home);
    // A device's session (beta holds no owner key: its link opens beta's session at beta).
    const device = await signIn(beta.home);
    expect([person.gateway, device.gateway]).toEqual([alphaGateway, betaGateway]);
    for (const gateway of [alphaGateway, betaGateway])
      for (const { cookie } of [person, other, device])
        expect((await panelAt(gateway, cookie))[0]).toBe(200);

    const out = await signOutAt(alphaGateway, person.cookie);
    expect([out.status, out.headers.get("set-cookie")]).toEqual([
      303,
      expect.stringContaining("bucky_session=;"),
    ]);
    // Copied before the sign-out, the cookie is refused at alpha at once and at beta soon.
    expect(await panelAt(alphaGateway, person.cookie)).toEqual([
      401,
      expect.stringContaining("your session was signed out"),
    ]);
    await refusedAt(betaGateway, person.cookie);
    expect((await signOutAt(betaGateway, device.cookie)).status).toBe(303);
    await refusedAt(alphaGateway, device.cookie);
    for (const gateway of [alphaGateway, betaGateway])
      expect((await panelAt(gateway, other.cookie))[0]).toBe(200);
    // Signing out a session already signed out, or none, writes nothing more.
    expect((await signOutAt(betaGateway, person.cookie)).status).toBe(303);
    expect((await signOutAt(betaGateway, "bucky_session=forged")).status).toBe(303);
    const { entries } = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "nodes/",
      "--home",
      beta.home,
    ]);
    expect(entries.filter((entry) => entry.key.includes("/signed-out/")).length).toBe(2);

    // alpha, which took the person's sign-out, is gone; beta restarts and still refuses it.
    await alpha.kill();
    await beta.stop();
    beta = await startDaemon(beta.home);
    await waitFor("beta's gateway again", () =>
      fetch(`${betaGateway}/`).then(
        () => true,
        () => undefined,
      ),
    );
    expect(await panelAt(betaGateway, person.cookie)).toEqual([
      401,
      expect.stringContaining("your session was signed out"),
    ]);
    expect((await panelAt(betaGateway, other.cookie))[0]).toBe(200);
  });
});
