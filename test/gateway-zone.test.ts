/**
 * Sessions in a zone with two gateways (alpha and beta) and a device that is none (gamma):
 * a login link opens at most one session in the whole zone, a session ends with the
 * device whose link opened it, a gateway that cannot start changes nothing, and a link
 * made before the zone had a host name still signs a browser in for the apps by name.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  freePort,
  jsonError,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;
let alphaGateway: string;
let betaGateway: string;

/** A new login link made on `home`'s device. */
async function loginLink(home: string): Promise<URL> {
  return new URL((await buckyJson<{ url: string }>(["login-link", "--home", home])).url);
}

/**
 * Opens `link` as a browser would, at the gateway listening on its port (every gateway
 * here listens on 127.0.0.1), with its host name (which need not resolve) as the Host.
 */
function openLink(link: URL, gateway = `http://127.0.0.1:${link.port}`): Promise<Response> {
  return fetch(`${gateway}${link.pathname}${link.search}`, {
    headers: { host: link.host },
    redirect: "manual",
  });
}

const cookieOf = (response: Response) =>
  (response.headers.get("set-cookie") ?? "").split(";")[0] as string;

/**
 * The notes app's page at `gateway`, with `cookie`: by path, and on to the port a gateway
 * without a name gives it (a browser sends its cookies there too: they are kept by host).
 */
const notesAt = async (gateway: string, cookie: string) => {
  const byPath = await fetch(`${gateway}/apps/notes/`, { headers: { cookie }, redirect: "manual" });
  const location = byPath.headers.get("location");
  if (byPath.status !== 308 || !location) return byPath;
  return fetch(location, { headers: { cookie }, redirect: "manual" });
};
beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gamma = zone.get("gamma") as Daemon;
  alphaGateway = await enableGateway(alpha.home);
  betaGateway = await enableGateway(beta.home);
  await buckyJson([
    "app",
    "install",
    resolve(import.meta.dir, "../fixtures/apps/notes"),
    "--device",
    "alpha",
    "--home",
    alpha.home,
  ]);
  // Both gateways reach the app (its open path answers), and every device knows both.
  for (const gateway of [alphaGateway, betaGateway]) {
    await waitFor(
      `notes at ${gateway}`,
      async () => ((await fetch(`${gateway}/apps/notes/api/notes`)).ok ? true : undefined),
      20_000,
    );
  }
  await waitFor("gamma to know both gateways", async () => {
    const { entries } = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "nodes/",
      "--home",
      gamma.home,
    ]);
    const keys = entries.map((entry) => entry.key);
    return keys.includes("nodes/alpha/gateway") && keys.includes("nodes/beta/gateway")
      ? true
      : undefined;
  });
});

describe("login links", () => {
  test("a link opens at most one session in the zone: spent once, at the gateway it names, wherever it is opened", async () => {
    const made = await loginLink(alpha.home);
    expect(made.origin).toBe(alphaGateway);
    const taken = await openLink(made);
    expect(taken.status).toBe(303);
    expect((await notesAt(alphaGateway, cookieOf(taken))).status).toBe(200);
    // Used at alpha, the leaked link opens nothing at beta: beta asks alpha, which spent it.
    const elsewhere = await openLink(made, betaGateway);
    expect([elsewhere.status, await elsewhere.text()]).toEqual([
      403,
      expect.stringContaining("this login link was already used"),
    ]);
    expect(elsewhere.headers.get("set-cookie")).toBeNull();
    // Unused, opened at another gateway first: spent there for the one it names, once.
    const fresh = await loginLink(beta.home);
    expect(fresh.origin).toBe(betaGateway);
    const carried = await openLink(fresh, alphaGateway);
    expect(carried.status).toBe(303);
    expect((await notesAt(betaGateway, cookieOf(carried))).status).toBe(200);
    expect((await openLink(fresh)).status).toBe(403);
  });

  test("a device that is no gateway makes links for one of the zone's gateways", async () => {
    const made = await loginLink(gamma.home);
    const named = made.origin;
    const other = named === alphaGateway ? betaGateway : alphaGateway;
    expect([alphaGateway, betaGateway]).toContain(named);
    expect((await openLink(made, other)).status).toBe(303);
    expect((await openLink(made)).status).toBe(403);
  });
});

describe("gateway enable", () => {
  test("on a port that is taken, fails and changes nothing", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const listen = `127.0.0.1:${taken.port}`;
      const before = await buckyJson(["state", "get", "nodes/alpha/gateway", "--home", alpha.home]);
      const moved = await bucky([
        "gateway",
        "enable",
        "--listen",
        listen,
        "--home",
        alpha.home,
        "--json",
      ]);
      expect(moved.exitCode).toBe(3);
      expect(jsonError(moved)).toEqual({
        code: "E_UNAVAILABLE",
        message: `the gateway cannot listen on ${listen}: it is in use`,
        hint: "Stop what uses it, or choose another address with `bucky gateway enable --listen`.",
      });
      // The zone state still says what runs, and it runs on.
      expect(
        await buckyJson(["state", "get", "nodes/alpha/gateway", "--home", alpha.home]),
      ).toEqual(before);
      expect((await fetch(`${alphaGateway}/`)).status).toBe(200);
      // A device that was no gateway stays none.
      const text = await bucky(["gateway", "enable", "--listen", listen, "--home", gamma.home]);
      expect([text.exitCode, text.stderr]).toEqual([
        3,
        expect.stringContaining(`the gateway cannot listen on ${listen}: it is in use`),
      ]);
      const state = await bucky(["state", "get", "nodes/gamma/gateway", "--home", gamma.home]);
      expect(state.exitCode).not.toBe(0);
    } finally {
      taken.stop(true);
    }
  });
  test("with a certificate that does not go with its key, fails and changes nothing", async () => {
    const dir = scratchDir();
    for (const name of ["one", "two"]) {
      const made = Bun.spawnSync(
        [
          "openssl",
          "req",
          "-x509",
          "-newkey",
          "ed25519",
          "-nodes",
          "-subj",
          `/CN=${name}`,
          "-days",
          "2",
          "-keyout",
          join(dir, `${name}.key`),
          "-out",
          join(dir, `${name}.pem`),
        ],
        { stderr: "pipe" },
      );
      if (made.exitCode !== 0) throw new Error(`openssl: ${made.stderr}`);
    }
    const port = freePort();
    const result = await bucky([
      "gateway",
      "enable",
      "--listen",
      `127.0.0.1:${port}`,
      "--tls-cert",
      join(dir, "one.pem"),
      "--tls-key",
      join(dir, "two.key"),
      "--home",
      gamma.home,
      "--json",
    ]);
    expect(result.exitCode).toBe(2);
    expect(jsonError(result)).toEqual({
      code: "E_INVALID_INPUT",
      message: expect.stringContaining(`the gateway cannot start on 127.0.0.1:${port}:`),
      hint: "Check that --tls-cert and --tls-key are a certificate and its own key.",
    });
    const state = await bucky(["state", "get", "nodes/gamma/gateway", "--home", gamma.home]);
    expect(state.exitCode).not.toBe(0);
  });
});

describe("a host name added later", () => {
  test("a link made before still signs the browser in for the apps by name", async () => {
    const made = await loginLink(beta.home);
    expect(made.origin).toBe(betaGateway);
    const port = new URL(betaGateway).port;
    // The same address, now with a name: the gateway moves over at once.
    await buckyJson([
      "gateway",
      "enable",
      "--listen",
      `127.0.0.1:${port}`,
      "--tls",
      "off", // plain HTTP: .test is a local name, which the zone CA would certify
      "--host",
      "zone.test",
      "--home",
      beta.home,
    ]);
    // Opened by address, the link sends the browser to the zone's name before it is spent…
    const first = await openLink(made);
    expect([first.status, first.headers.get("location"), first.headers.get("set-cookie")]).toEqual([
      303,
      `http://zone.test:${port}/_bucky/login${made.search}`,
      null,
    ]);
    // …where it signs in for every app's name.
    const second = await openLink(new URL(first.headers.get("location") as string));
    expect(second.status).toBe(303);
    expect(second.headers.get("set-cookie")).toContain("Domain=zone.test");
    const app = await fetch(`${betaGateway}/`, {
      headers: { host: `notes.zone.test:${port}`, cookie: cookieOf(second) },
      redirect: "manual",
    });
    expect([app.status, await app.text()]).toEqual([200, expect.stringContaining("<h1>Notes")]);
  });
});

describe("revocation", () => {
  test("a session ends, on every gateway, when the device whose link opened it is revoked", async () => {
    const fromGamma = cookieOf(await openLink(await loginLink(gamma.home)));
    const fromAlpha = cookieOf(await openLink(await loginLink(alpha.home)));
    for (const gateway of [alphaGateway, betaGateway])
      expect((await notesAt(gateway, fromGamma)).status).toBe(200);
    await buckyJson(["devices", "revoke", "gamma", "--home", alpha.home]);
    for (const gateway of [alphaGateway, betaGateway]) {
      const refused = await waitFor(`the revocation at ${gateway}`, async () => {
        const response = await notesAt(gateway, fromGamma);
        return response.status === 401 ? response : undefined;
      });
      expect(await refused.text()).toContain("a device no longer in the zone");
    }
    expect((await notesAt(alphaGateway, fromAlpha)).status).toBe(200);
  });
});
