/**
 * The zone's gateway dies (SIGKILL) and another answers in its place: a device that is
 * no gateway then makes its login and enrollment links for the one that answers, and a
 * session the dead gateway signed goes on working there, until it is signed out there.
 * (alpha holds the owner key and is no gateway; beta and gamma are gateways, beta first
 * by name.)
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

/** Devices say they are alive every half second: one is not live 1.5 s after it died. */
const FAST = { BUCKY_HEARTBEAT_MS: "500", BUCKY_SYNC_INTERVAL_MS: "200" };

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;
let betaGateway: string;
let gammaGateway: string;

/** A login link made on alpha (which holds the owner key: it signs the owner in). */
async function ownerLink(): Promise<URL> {
  return new URL((await buckyJson<{ url: string }>(["login-link", "--home", alpha.home])).url);
}

async function openLink(link: URL): Promise<string> {
  const opened = await fetch(link, { redirect: "manual" });
  expect(opened.status).toBe(303);
  return (opened.headers.get("set-cookie") ?? "").split(";")[0] as string;
}

/** Sends `name` to `daemon`'s process; false when it has exited (its pid may be another's). */
function signal(daemon: Daemon, name: NodeJS.Signals): boolean {
  if (Bun.peek.status(daemon.exited) !== "pending") return false;
  process.kill(daemon.pid, name);
  return true;
}

async function panelStatus(gateway: string, cookie: string): Promise<number> {
  const response = await fetch(`${gateway}/_bucky/panel/`, { headers: { cookie } });
  await response.arrayBuffer();
  return response.status;
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"], FAST);
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  betaGateway = await enableGateway(beta.home);
  gamma = zone.get("gamma") as Daemon;
  gammaGateway = await enableGateway(gamma.home);
  await waitFor("alpha to know both gateways", async () => {
    const { entries } = await buckyJson<{ entries: { key: string }[] }>([
      "state",
      "list",
      "nodes/",
      "--home",
      alpha.home,
    ]);
    const keys = entries.map((entry) => entry.key);
    return keys.includes("nodes/beta/gateway") && keys.includes("nodes/gamma/gateway")
      ? true
      : undefined;
  });
}, 60_000);

describe("the gateway dies", () => {
  test("links go to the gateway that answers; a session the dead one signed works there until signed out", async () => {
    // Both up: links go to the first of them by name, as before.
    const first = await ownerLink();
    expect(first.origin).toBe(betaGateway);
    const cookie = await openLink(first);
    expect(await panelStatus(gammaGateway, cookie)).toBe(200);

    await beta.kill();
    // Once beta is heard from no more, a link made on alpha goes to gamma.
    const link = await waitFor("a link to the gateway that answers", async () => {
      const made = await ownerLink();
      return made.origin === gammaGateway ? made : undefined;
    });
    expect(await panelStatus(gammaGateway, await openLink(link))).toBe(200);
    const added = await buckyJson<{ enrollment: { url: string; gateway: string } }>([
      "user",
      "add",
      "ann",
      "--home",
      alpha.home,
    ]);
    expect([new URL(added.enrollment.url).origin, added.enrollment.gateway]).toEqual([
      gammaGateway,
      "gamma",
    ]);
    expect((await fetch(added.enrollment.url)).status).toBe(200);

    // The session beta signed stands at gamma, and is signed out there for good.
    expect(await panelStatus(gammaGateway, cookie)).toBe(200);
    const out = await fetch(`${gammaGateway}/_bucky/signout`, {
      method: "POST",
      headers: { cookie },
      redirect: "manual",
    });
    expect(out.status).toBe(303);
    expect(await panelStatus(gammaGateway, cookie)).toBe(401);
  }, 30_000);

  test("a gateway whose port is taken as its daemon starts comes up once the port is free", async () => {
    await gamma.stop();
    const port = Number(new URL(gammaGateway).port);
    const taken = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    try {
      gamma = await startDaemon(gamma.home, FAST);
      await waitFor("gamma to say its gateway did not start", () =>
        gamma.log().includes("gateway not started") ? true : undefined,
      );
    } finally {
      taken.stop(true);
    }
    await waitFor("gamma's gateway", () =>
      fetch(`${gammaGateway}/`).then(
        (response) => response.status,
        () => undefined,
      ),
    );
  }, 30_000);

  test("a sign-out is answered once another device holds it: the gateway killed at once, it stands", async () => {
    // gamma's peers stopped (SIGSTOP; beta died above), so none can take the sign-out
    // until let go.
    const cookie = await openLink(await ownerLink());
    expect(await panelStatus(gammaGateway, cookie)).toBe(200);
    const records = async () =>
      (
        await buckyJson<{ entries: { key: string }[] }>([
          ...["state", "list", "nodes/gamma/signed-out/", "--home", alpha.home],
        ])
      ).entries.length;
    const before = await records();
    const peers = [alpha, beta].filter((peer) => signal(peer, "SIGSTOP"));
    let answered = false;
    let signingOut: Promise<Response>;
    try {
      signingOut = fetch(`${gammaGateway}/_bucky/signout`, {
        method: "POST",
        headers: { cookie },
        redirect: "manual",
      });
      void signingOut.then(() => {
        answered = true;
      });
      // Until gamma has written it (its log says so), and a while after: no answer yet.
      await waitFor("gamma to write the sign-out", () =>
        gamma.log().includes("session signed out") ? true : undefined,
      );
      await Bun.sleep(500);
      expect(answered).toBe(false);
    } finally {
      for (const peer of peers) signal(peer, "SIGCONT");
    }
    expect((await signingOut).status).toBe(303);
    await gamma.kill();
    // alpha held it before gamma answered: nothing of gamma's is needed any more.
    expect(await records()).toBe(before + 1);
  }, 30_000);
});
