/**
 * Rules and limits are the zone's: added on a device that is no gateway, every gateway
 * enforces them, and goes on doing so once that device is killed (SIGKILL). (alpha holds
 * the owner key and is no gateway; beta and gamma are gateways.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import {
  answeredOnceHeld,
  appDir,
  appOrigin,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const SITE = resolve(import.meta.dir, "../fixtures/apps/site");
const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_SYNC_INTERVAL_MS: "200",
  // Each gateway's traffic is counted anew for its facts every second.
  BUCKY_TRAFFIC_FACTS_EVERY_MS: "1000",
};

/** A public app that answers each WebSocket message with CHATTY_BYTES, and stays open. */
const CHATTY_BYTES = 256 * 1024;
const CHATTY = `
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request, server) {
    if (new URL(request.url).pathname === "/health") return new Response("ok");
    return server.upgrade(request) ? undefined : new Response("no", { status: 400 });
  },
  websocket: { message(ws) { ws.send(new Uint8Array(${CHATTY_BYTES})); } },
});
`;

let alpha: Daemon;
let zone: Map<string, Daemon>;
/** Each gateway: its own URL, and the site app's own (the port it gives the app). */
let gateways: { url: string; home: string; site: string }[];

async function status(site: string): Promise<number> {
  const response = await fetch(`${site}/`, { redirect: "manual" });
  await response.arrayBuffer();
  return response.status;
}

/** Waits until every gateway answers the site app with `expected`. */
function everyGatewayAnswers(what: string, expected: number): Promise<true> {
  return waitFor(
    what,
    async () =>
      (await Promise.all(gateways.map((gateway) => status(gateway.site)))).every(
        (s) => s === expected,
      )
        ? true
        : undefined,
    15_000,
  );
}

beforeAll(async () => {
  zone = await startZone(["alpha", "beta", "gamma"], FAST);
  alpha = zone.get("alpha") as Daemon;
  gateways = [];
  for (const name of ["beta", "gamma"]) {
    const home = (zone.get(name) as Daemon).home;
    gateways.push({ url: await enableGateway(home), home, site: "" });
  }
  await buckyJson(["app", "install", SITE, "--home", alpha.home]);
  for (const gateway of gateways) gateway.site = await appOrigin(gateway.url, "site");
  await everyGatewayAnswers("site at both gateways", 200);
}, 60_000);

/** Whether three requests at once to each gateway meet its limit of one a second. */
async function limitedAtEach(): Promise<true | undefined> {
  for (const gateway of gateways) {
    const burst = await Promise.all([1, 2, 3].map(() => status(gateway.site)));
    if (!burst.includes(429)) return undefined;
  }
  return true;
}

describe("rules and limits, zone-wide", () => {
  test("added on a device that is no gateway, both gateways enforce them, with that device killed", async () => {
    const [beta, gamma] = [zone.get("beta") as Daemon, zone.get("gamma") as Daemon];
    // Said set only once a gateway holds the limit: lost with alpha, none would limit.
    const limited = await answeredOnceHeld(
      [beta, gamma],
      () => buckyJson(["app", "limit", "site", "--rps", "1", "--home", alpha.home]),
      { what: "alpha to write the limit", seen: () => /app limits set/.test(alpha.log()) },
    );
    expect(limited).toMatchObject({ app: "site", limits: { rps: 1 }, heldElsewhere: "held" });
    await waitFor("the limit at both gateways", limitedAtEach, 15_000);
    const rule = await buckyJson<{ id: string }>([
      ...["rule", "add", "block", "--app", "site", "--client", "127.0.0.1"],
      ...["--home", alpha.home],
    ]);
    await everyGatewayAnswers("the rule at both gateways", 403);
    await alpha.kill();
    // Each gateway reads them from its copy of the zone state: alpha is not needed.
    expect(await Promise.all(gateways.map((gateway) => status(gateway.site)))).toEqual([403, 403]);
    // Removed on a gateway, the rule goes at both, said removed once the other holds it
    // (lost with beta, gamma would go on blocking); the limit stays at both.
    const removed = await answeredOnceHeld(
      [gamma],
      () => buckyJson(["rule", "rm", rule.id, "--home", beta.home]),
      { what: "beta to remove the rule", seen: () => /rule removed/.test(beta.log()) },
    );
    expect(removed).toEqual({ id: rule.id, removed: true, heldElsewhere: "held" });
    await waitFor(
      "the rule gone at both gateways",
      async () =>
        (await Promise.all(gateways.map((gateway) => status(gateway.site)))).every((s) => s !== 403)
          ? true
          : undefined,
      15_000,
    );
    await waitFor("the limit still at both gateways", limitedAtEach, 15_000);
  }, 60_000);

  test("a WebSocket held open at beta is in the zone's traffic at gamma while it is open", async () => {
    const [beta, gamma] = [zone.get("beta") as Daemon, zone.get("gamma") as Daemon];
    const chatty = appDir(
      {
        id: "chatty",
        version: "1.0.0",
        run: { command: ["bun", "chatty.ts"] },
        http: {},
        exposure: "public",
        health: { path: "/health", intervalMs: 300 },
      },
      { "chatty.ts": CHATTY },
    );
    await buckyJson(["app", "install", chatty, "--device", "gamma", "--home", beta.home]);
    const origin = await appOrigin(gateways[0]?.url as string, "chatty");
    await waitFor("chatty answering at beta", async () =>
      (await fetch(`${origin}/health`)).ok ? true : undefined,
    );
    const socket = new WebSocket(`${origin.replace("http", "ws")}/`);
    socket.binaryType = "arraybuffer";
    let received = 0;
    socket.onmessage = (event) => {
      received += (event.data as ArrayBuffer).byteLength;
    };
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error("the chatty socket failed"));
    });
    socket.send("more");
    await waitFor("the app's bytes through beta", () =>
      received >= CHATTY_BYTES ? true : undefined,
    );
    // Counted as it goes, not at its close: beta says it in its facts, gamma reads them.
    const counted = await waitFor(
      "beta's socket in the zone's traffic, asked at gamma",
      async () => {
        const { apps } = await buckyJson<{ apps: { app: string; bytesOut: number }[] }>([
          ...["traffic", "--app", "chatty", "--home", gamma.home],
        ]);
        const bytesOut = apps[0]?.bytesOut ?? 0;
        return bytesOut >= CHATTY_BYTES ? bytesOut : undefined;
      },
      15_000,
    );
    expect(counted).toBeLessThan(2 * CHATTY_BYTES);
    expect(socket.readyState).toBe(WebSocket.OPEN);
    socket.close();
  }, 60_000);

  test("the zone's traffic is the same from every gateway, and a killed gateway's stays counted", async () => {
    type Traffic = { apps: { app: string; requests: number }[]; gateways: { device: string }[] };
    const trafficOn = async (home: string) => {
      const { apps, gateways } = await buckyJson<Traffic>([
        ...["traffic", "--app", "site", "--home", home],
      ]);
      return JSON.stringify({ apps, gateways: gateways.map(({ device }) => device) });
    };
    const [beta, gamma] = [zone.get("beta") as Daemon, zone.get("gamma") as Daemon];
    // Both gateways served site above (the bursts): each says so in its facts.
    const said = await waitFor(
      "the same figures, from both gateways, on both",
      async () => {
        const [onBeta, onGamma] = await Promise.all([trafficOn(beta.home), trafficOn(gamma.home)]);
        return onBeta === onGamma && onBeta.includes('"beta","gamma"') ? onBeta : undefined;
      },
      20_000,
    );
    expect(JSON.parse(said).apps[0].requests).toBeGreaterThanOrEqual(6);
    await gamma.kill();
    expect(await trafficOn(beta.home)).toBe(said);
  }, 30_000);
});
