/**
 * A gateway without a name gives each app a port of its own, so no app shares an origin
 * with the panel or with another app. Gateway on alpha, apps installed from beta and run
 * on beta: every device says the same address, the app answers there (WebSockets too),
 * the gateway's paths to it only lead there, and a request from one app's page to another
 * (or to the panel) carries no person. The port is kept across a restart of the gateway,
 * and is said by beta with alpha killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  appDir,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  jsonError,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/** Tells who the gateway said is signed in, and echoes WebSockets. */
const WHO = `
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request, server) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname === "/ws") return server.upgrade(request) ? undefined : new Response("no", { status: 400 });
    return Response.json({
      app: process.env.BUCKY_APP,
      path: url.pathname + url.search,
      user: request.headers.get("bucky-user"),
      prefix: request.headers.get("x-forwarded-prefix"),
    });
  },
  websocket: { message(ws, message) { ws.send("echo " + message); } },
});
`;

interface Seen {
  path: string;
  user: string | null;
  prefix: string | null;
}

let alpha: Daemon;
let beta: Daemon;
let gateway: string;
let gatewayPort: number;
/** A port right above the gateway's, held by another program before any app was installed. */
let held: { stop(closeActive?: boolean): void } | undefined;
let cookie: string;

const addressesOf = async (app: string, home: string) =>
  (await buckyJson<{ addresses: string[] }>(["app", "status", app, "--home", home])).addresses;

/** The app's own address once every device says the gateway gave it one. */
async function ownAddress(app: string): Promise<string> {
  return waitFor(`${app}'s own port, said by alpha and beta`, async () => {
    const [fromAlpha, fromBeta] = [
      await addressesOf(app, alpha.home),
      await addressesOf(app, beta.home),
    ];
    const address = fromBeta[0] ?? "";
    return !address.includes("/apps/") && JSON.stringify(fromAlpha) === JSON.stringify(fromBeta)
      ? address
      : undefined;
  });
}

async function install(id: string, exposure: "zone" | "public"): Promise<void> {
  const dir = appDir(
    {
      id,
      version: "1.0.0",
      run: { command: ["bun", "main.ts"] },
      http: {},
      health: { path: "/health", intervalMs: 300 },
      placement: "beta",
      exposure,
    },
    { "main.ts": WHO },
  );
  await buckyJson(["app", "install", dir, "--home", beta.home]);
}

const seen = async (address: string, path: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${address.replace(/\/$/, "")}${path}`, {
    headers,
    redirect: "manual",
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Seen;
};

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], { BUCKY_HEARTBEAT_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gateway = await enableGateway(alpha.home);
  gatewayPort = Number(new URL(gateway).port);
  try {
    held = Bun.listen({ hostname: "127.0.0.1", port: gatewayPort + 1, socket: { data() {} } });
  } catch {
    // Already another program's: the gateway passes it over all the same.
  }
  const { url } = await buckyJson<{ url: string }>(["login-link", "--home", alpha.home]);
  const signedIn = await fetch(url, { redirect: "manual" });
  expect(signedIn.status).toBe(303);
  cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] as string;
}, 60_000);

afterAll(() => held?.stop(true));

describe("apps on a gateway without a name", () => {
  let diary: string;
  let photos: string;

  test("each has a port of its own above the gateway's, said the same by every device", async () => {
    await install("diary", "zone");
    await install("photos", "public");
    diary = await ownAddress("diary");
    photos = await ownAddress("photos");
    const portOf = (address: string) => Number(new URL(address).port);
    expect(new URL(diary).hostname).toBe("127.0.0.1");
    expect(portOf(diary)).toBeGreaterThan(gatewayPort + 1);
    expect(portOf(photos)).toBeGreaterThan(gatewayPort + 1);
    expect(portOf(diary)).not.toBe(portOf(photos));
    expect(alpha.log()).toContain(`app port taken app=`);
  });

  test("each answers at its own port, as itself and at the root, signed in there", async () => {
    expect(await seen(diary, "/a/b?c=1", { cookie })).toEqual({
      app: "diary",
      path: "/a/b?c=1",
      user: "owner",
      prefix: null,
    } as Seen);
    // Its port is all the app's: the gateway's own paths are the app's there.
    expect((await seen(diary, "/_bucky/panel/", { cookie })).path).toBe("/_bucky/panel/");
    expect((await seen(photos, "/")).user).toBeNull();
  });

  test("a path to an app at the gateway's own port leads to the app's port, and serves nothing of it", async () => {
    for (const [path, to] of [
      ["/apps/diary/a/b?c=1", "a/b?c=1"],
      ["/apps/diary", ""],
    ] as const) {
      const response = await fetch(`${gateway}${path}`, {
        method: "POST",
        headers: { cookie },
        redirect: "manual",
      });
      expect([path, response.status, response.headers.get("location")]).toEqual([
        path,
        308,
        `${diary}${to}`,
      ]);
    }
    const unknown = await fetch(`${gateway}/apps/nosuch/`, { redirect: "manual" });
    expect(unknown.status).toBe(404);
  });

  test("a zone app's sign-in leads to the gateway's own port, and back to the app", async () => {
    const page = await (await fetch(`${diary}x`, { redirect: "manual" })).text();
    expect(page).toContain(`href="${gateway}/_bucky/signin?next=%2Fapps%2Fdiary%2Fx"`);
  });

  test("a request from another app's page, or to the panel from an app's, carries no person", async () => {
    // A script of photos' page asking diary (its Origin is photos' own).
    const origin = photos.replace(/\/$/, "");
    const asked = await fetch(`${diary}ws`, {
      method: "POST",
      headers: { cookie, origin },
      redirect: "manual",
    });
    expect(asked.status).toBe(403);
    const read = await fetch(`${diary}a`, {
      headers: { cookie, "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors" },
      redirect: "manual",
    });
    expect(read.status).toBe(401);
    const panel = await fetch(`${gateway}/_bucky/panel/apps`, {
      method: "POST",
      headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" },
      body: "x=1",
      redirect: "manual",
    });
    expect(panel.status).toBe(403);
  });

  test("a WebSocket reaches the app at its own port", async () => {
    const socket = new WebSocket(`${diary.replace("http", "ws")}ws`, {
      headers: { cookie, origin: diary.replace(/\/$/, "") },
    } as unknown as string[]);
    const echoed = await new Promise<string>((resolve, reject) => {
      socket.onopen = () => socket.send("hi");
      socket.onmessage = (event) => resolve(String(event.data));
      socket.onerror = () => reject(new Error("the socket failed"));
    });
    socket.close();
    expect(echoed).toBe("echo hi");
  });

  test("a removed app's port closes, no device says it any more, and it stays photos' alone", async () => {
    await buckyJson(["app", "remove", "photos", "--home", beta.home]);
    await waitFor("photos' port closed", () =>
      fetch(photos).then(
        () => undefined,
        () => true,
      ),
    );
    await waitFor("beta to say photos has no port", async () => {
      const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
        "state",
        "list",
        "nodes/alpha/app-ports",
        "--home",
        beta.home,
      ]);
      const value = entries[0]?.value as
        | { ports?: Record<string, number>; retired?: [number, string][] }
        | undefined;
      const ports = value?.ports ?? {};
      // Kept from any other app: the port is the whole origin, and what the browser holds
      // for photos there (storage, cached pages, a service worker) would be the next app's.
      const port = Number(new URL(photos).port);
      const retired = value?.retired?.find(([retiredPort]) => retiredPort === port)?.[1];
      return !("photos" in ports) && "diary" in ports && retired === "photos" ? true : undefined;
    });
  });

  test("the gateway is not moved to an app's port, now or retired; it keeps serving as it was", async () => {
    for (const address of [diary, photos]) {
      const port = new URL(address).port;
      const result = await bucky([
        "gateway",
        "enable",
        "--listen",
        `127.0.0.1:${port}`,
        "--json",
        "--home",
        alpha.home,
      ]);
      expect(result.exitCode).not.toBe(0);
      const error = jsonError(result);
      expect(error.code).toBe("E_USAGE");
      expect(error.message).toContain(
        `port ${port} is the app ${address === diary ? "diary" : "photos"}'s`,
      );
    }
    expect(await seen(diary, "/still", { cookie })).toMatchObject({ path: "/still" });
    expect((await fetch(`${gateway}/`)).status).toBeLessThan(500);
  });

  test("the gateway killed and started again serves each app at the same port", async () => {
    await alpha.kill();
    // Said by beta while alpha is gone.
    expect(await addressesOf("diary", beta.home)).toEqual([diary]);
    alpha = await startDaemon(alpha.home, { BUCKY_HEARTBEAT_MS: "300" });
    await waitFor("diary at its port again", () =>
      fetch(`${diary}again`, { headers: { cookie } }).then(
        (response) => (response.status === 200 ? true : undefined),
        () => undefined,
      ),
    );
    expect(await seen(diary, "/again", { cookie })).toMatchObject({
      path: "/again",
      user: "owner",
    });
    expect(await addressesOf("diary", alpha.home)).toEqual([diary]);
  });
});
