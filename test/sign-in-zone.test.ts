/**
 * Guessing a person's password is bounded for the whole zone, not per gateway: the wrong
 * passwords given at one gateway count at the other, still after the first is killed
 * (SIGKILL) and the other has restarted, so a zone of two gateways gives a guesser no
 * more guesses than one. The person's session, opened at one gateway, works at the other.
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
const PASSWORD = "ann's own password";

/** A form posted from `gateway`'s own pages. */
function post(gateway: string, path: string, fields: Record<string, string>, cookie?: string) {
  return fetch(`${gateway}${path}`, {
    method: "POST",
    headers: {
      origin: gateway,
      "content-type": "application/x-www-form-urlencoded",
      ...(cookie ? { cookie } : {}),
    },
    body: new URLSearchParams(fields),
    redirect: "manual",
  });
}

const signIn = (gateway: string, password: string) =>
  post(gateway, "/_bucky/signin", { name: "ann", password });

/** What ann's session reaches at `gateway`: the panel's status. */
async function panelAt(gateway: string, cookie: string): Promise<number> {
  return (await fetch(`${gateway}/_bucky/panel/`, { headers: { cookie }, redirect: "manual" }))
    .status;
}

async function stateKeys(home: string, prefix: string): Promise<string[]> {
  const { entries } = await buckyJson<{ entries: { key: string }[] }>([
    "state",
    "list",
    prefix,
    "--home",
    home,
  ]);
  return entries.map((entry) => entry.key);
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  alphaGateway = await enableGateway(alpha.home);
  betaGateway = await enableGateway(beta.home);
  const added = await buckyJson<{ enrollment: { url: string } }>([
    "user",
    "add",
    "ann",
    "--home",
    alpha.home,
  ]);
  const link = new URL(added.enrollment.url);
  const token = link.searchParams.get("token") as string;
  const enrolled = await post(link.origin, "/_bucky/enroll", {
    token,
    password: PASSWORD,
    confirm: PASSWORD,
  });
  expect(enrolled.status).toBe(303);
  for (const home of [alpha.home, beta.home])
    await waitFor("ann's password on both devices", async () =>
      (await stateKeys(home, "users/ann/credentials/")).length === 1 ? true : undefined,
    );
}, 60_000);

describe("signing in at two gateways", () => {
  test("a session opened at one gateway works at the other", async () => {
    const opened = await signIn(alphaGateway, PASSWORD);
    expect(opened.status).toBe(303);
    const cookie = (opened.headers.get("set-cookie") ?? "").split(";")[0] as string;
    expect([await panelAt(alphaGateway, cookie), await panelAt(betaGateway, cookie)]).toEqual([
      200, 200,
    ]);
  });

  test("wrong passwords count at every gateway, with the gateway that took them killed", async () => {
    // Five wrong guesses at alpha, five at beta: ten, each gateway's own bound alone.
    for (let guess = 1; guess <= 5; guess++)
      expect([guess, (await signIn(alphaGateway, `guess ${guess}`)).status]).toEqual([guess, 403]);
    // beta holds what alpha wrote up to a mark written after the guesses (a feed is in order).
    await buckyJson(["state", "set", "probe/after-guesses", '"1"', "--home", alpha.home]);
    await waitFor("alpha's writes at beta", async () =>
      (await stateKeys(beta.home, "probe/")).includes("probe/after-guesses") ? true : undefined,
    );
    await alpha.kill();
    for (let guess = 6; guess <= 10; guess++)
      expect([guess, (await signIn(betaGateway, `guess ${guess}`)).status]).toEqual([guess, 403]);
    // No more guesses at beta: not even the right password is checked for now.
    const limited = await signIn(betaGateway, PASSWORD);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(200);
    expect(beta.log()).toContain(
      'reason="too many wrong passwords for this person at the zone\'s gateways"',
    );
    // Nor once beta has restarted: what it had in memory is gone, the zone's count is not.
    await beta.stop();
    beta = await startDaemon(beta.home);
    await waitFor("beta's gateway again", () =>
      fetch(`${betaGateway}/`).then(
        () => true,
        () => undefined,
      ),
    );
    expect((await signIn(betaGateway, `guess 11`)).status).toBe(429);
  });
});
