/**
 * Two gateways under one name (DNS lists both, so a browser's requests land on either):
 * each step of signing in works whichever of them it lands on. A passkey made with a
 * ceremony begun at alpha and finished at beta, a sign-in begun at beta and finished at
 * alpha, a login link made for alpha opened at beta (spent once, at alpha): each is carried
 * to the gateway it belongs to. With alpha killed, a step of alpha's landing on beta is
 * refused saying so, not as a step no gateway began.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { authenticator } from "../lib/users/test-authenticator.ts";
import { buckyJson, cleanUp, type Daemon, freePort, startZone, waitFor } from "./harness.ts";

afterAll(cleanUp);

const HOST = "home.localhost";
const ORIGIN = `http://${HOST}`;

let alpha: Daemon;
let beta: Daemon;
const ports: Record<"alpha" | "beta", number> = { alpha: 0, beta: 0 };

/** A request to one gateway as a browser at the zone's name sends it. */
function at(
  gateway: "alpha" | "beta",
  path: string,
  init: { body?: unknown; cookie?: string } = {},
): Promise<Response> {
  return fetch(`http://127.0.0.1:${ports[gateway]}${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: {
      host: HOST,
      origin: ORIGIN,
      "content-type": "application/json",
      ...(init.cookie ? { cookie: init.cookie } : {}),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    redirect: "manual",
  });
}

const cookieOf = (response: Response) =>
  (response.headers.get("set-cookie") ?? "").split(";")[0] as string;

/** Whether `cookie` opens the account page at `gateway` as ann. */
async function signedInAsAnn(gateway: "alpha" | "beta", cookie: string): Promise<boolean> {
  const response = await at(gateway, "/_bucky/account", { cookie });
  return response.status === 200 && (await response.text()).includes("ann");
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"]);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  for (const [name, daemon] of [
    ["alpha", alpha],
    ["beta", beta],
  ] as const) {
    ports[name] = freePort();
    await buckyJson([
      ...["gateway", "enable", "--listen", `127.0.0.1:${ports[name]}`, "--host", HOST],
      ...["--tls", "off", "--home", daemon.home],
    ]);
  }
  await waitFor("both gateways", async () => {
    const answers = await Promise.all(
      (["alpha", "beta"] as const).map((g) => at(g, "/_bucky/signin").catch(() => undefined)),
    );
    return answers.every((a) => a?.status === 200) ? true : undefined;
  });
}, 60_000);

describe("two gateways sharing one name", () => {
  const device = authenticator(HOST, ORIGIN);

  test("a passkey made and used with each ceremony begun at one gateway and finished at the other", async () => {
    const added = await buckyJson<{ enrollment: { url: string } }>([
      ...["user", "add", "ann", "--home", alpha.home],
    ]);
    const token = new URL(added.enrollment.url).searchParams.get("token") as string;
    const making = (await (
      await at("alpha", "/_bucky/enroll/passkey/options", { body: { token } })
    ).json()) as { ceremony: string; options: { challenge: string } };
    const made = await at("beta", "/_bucky/enroll/passkey", {
      body: { ceremony: making.ceremony, response: device.make(making.options.challenge) },
    });
    // Alpha, which began it and writes the passkey, says whether another device held it.
    expect([made.status, await made.json()]).toEqual([200, { user: "ann", heldElsewhere: "held" }]);

    // Begun at beta (once it holds ann's passkey), finished at alpha.
    const signing = await waitFor("beta to hold ann's passkey", async () => {
      const response = await at("beta", "/_bucky/signin/passkey/options", {
        body: { name: "ann" },
      });
      return response.status === 200
        ? ((await response.json()) as { ceremony: string; options: { challenge: string } })
        : undefined;
    });
    const signed = await at("alpha", "/_bucky/signin/passkey", {
      body: { ceremony: signing.ceremony, response: device.use(signing.options.challenge) },
    });
    expect(signed.status).toBe(200);
    const cookie = cookieOf(signed);
    expect(await signedInAsAnn("beta", cookie)).toBe(true);
    expect(await signedInAsAnn("alpha", cookie)).toBe(true);
    // Used again, where it began or where it landed: a ceremony ends once.
    for (const gateway of ["alpha", "beta"] as const) {
      const again = await at(gateway, "/_bucky/signin/passkey", {
        body: { ceremony: signing.ceremony, response: device.use(signing.options.challenge) },
      });
      expect(again.status).toBe(403);
    }
  }, 60_000);

  test("a login link made for alpha, opened at beta, is spent at alpha, once", async () => {
    const link = await buckyJson<{ url: string }>(["login-link", "--home", alpha.home]);
    const query = new URL(link.url).search;
    const opened = await at("beta", `/_bucky/login${query}`);
    expect(opened.status).toBe(303);
    expect(cookieOf(opened)).toStartWith("bucky_session=");
    for (const gateway of ["alpha", "beta"] as const) {
      const again = await at(gateway, `/_bucky/login${query}`);
      expect(again.status).toBe(403);
      expect(await again.text()).toContain("this login link was already used");
    }
  }, 30_000);

  test("with alpha killed, a step of alpha's landing on beta is refused saying where it belongs", async () => {
    const signing = (await (
      await at("alpha", "/_bucky/signin/passkey/options", { body: { name: "ann" } })
    ).json()) as { ceremony: string; options: { challenge: string } };
    const link = await buckyJson<{ url: string }>(["login-link", "--home", alpha.home]);
    await alpha.kill();
    const finished = await at("beta", "/_bucky/signin/passkey", {
      body: { ceremony: signing.ceremony, response: device.use(signing.options.challenge) },
    });
    expect(finished.status).toBe(503);
    expect(((await finished.json()) as { error: { message: string } }).error.message).toBe(
      "this step of signing in belongs to alpha, another gateway of the zone, which cannot be reached now",
    );
    const opened = await at("beta", `/_bucky/login${new URL(link.url).search}`);
    expect(opened.status).toBe(503);
    expect(await opened.text()).toContain("it is not spent");
  }, 60_000);
});
