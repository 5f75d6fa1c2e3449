/**
 * The app pipe end to end (docs/app-pipe.md): gateway on alpha, an app on beta. A
 * request through the gateway reaches the app by beta's pipe, not its ingress, as the
 * person signed in and no one a client names; beta's pipe takes only the zone's gateways,
 * for apps that run on beta.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BuckyError } from "../lib/errors.ts";
import { readKeyFile } from "../lib/identity/key-file.ts";
import { createLog } from "../lib/log.ts";
import { PeerClient } from "../lib/node/peer-client.ts";
import { MemoryContacts, type Peer } from "../lib/node/peers.ts";
import { appCertificate } from "../protocol/app-certificate.ts";
import { signingKeyFromSeed } from "../protocol/ed25519.ts";
import type { AppName } from "../protocol/names.ts";
import { certificatePem, pinnedTls, privateKeyPem } from "../protocol/tls-cert.ts";
import {
  atName,
  buckyJson,
  cleanUp,
  type Daemon,
  freePort,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";
import { peerOf } from "./member.ts";

afterAll(cleanUp);

const HOST = "zone.test";
/** The app: says which of bucky's headers it received. */
const ECHO = `
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    // An answer that stays open: its first bytes at once, then nothing until the connection goes.
    if (url.pathname === "/endless")
      return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("first")); } }));
    const bucky = {};
    request.headers.forEach((value, name) => {
      if (name.replaceAll("_", "-").startsWith("bucky-")) bucky[name] = value;
    });
    return Response.json({ path: url.pathname, bucky });
  },
});
`;

let alpha: Daemon;
let beta: Daemon;
let gamma: Daemon;
let gateway: string;
let betaPeer: Peer;
let betaPipePort: number;

const seedOf = (daemon: Daemon) =>
  readKeyFile(
    join(daemon.home, "identity", "device.key"),
    "device",
    createLog({ level: "silent" }),
  );

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  const to = atName(`http://${HOST}`, path);
  return fetch(`${gateway}${to.path}`, {
    headers: { host: to.host, ...headers },
    redirect: "manual",
  });
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta", "gamma"], { BUCKY_CONVERGE_INTERVAL_MS: "300" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  gamma = zone.get("gamma") as Daemon;
  const port = freePort();
  await buckyJson([
    "gateway",
    "enable",
    "--listen",
    `127.0.0.1:${port}`,
    "--tls",
    "off",
    "--host",
    HOST,
    "--home",
    alpha.home,
  ]);
  gateway = `http://127.0.0.1:${port}`;
  const dir = join(scratchDir(), "echo");
  mkdirSync(dir);
  writeFileSync(join(dir, "echo.ts"), ECHO);
  writeFileSync(
    join(dir, "bucky-app.json"),
    JSON.stringify({
      id: "echo",
      version: "1.0.0",
      run: { command: ["bun", "echo.ts"] },
      http: {},
      exposure: "zone",
      health: { path: "/health", intervalMs: 300 },
    }),
  );
  await buckyJson(["app", "install", dir, "--device", "beta", "--home", alpha.home]);
  await waitFor(
    "echo to run",
    async () => {
      const s = await buckyJson<{ state: string }>(["app", "status", "echo", "--home", alpha.home]);
      return s.state === "running" ? true : undefined;
    },
    15_000,
  );
  betaPeer = await peerOf(beta);
  // Where beta's pipe listens, asked as alpha, a member, asks it.
  const asAlpha = new PeerClient(signingKeyFromSeed(seedOf(alpha)), new MemoryContacts(), Date.now);
  const said = await asAlpha.get(betaPeer, "/v1/app-pipe");
  betaPipePort = (JSON.parse(new TextDecoder().decode(said)) as { port: number }).port;
});

/** Enrolls a person and returns their session cookie. */
async function enrolled(name: string): Promise<string> {
  const added = await buckyJson<{ enrollment: { url: string } }>([
    "user",
    "add",
    name,
    "--role",
    "member",
    "--home",
    alpha.home,
  ]);
  const token = new URL(added.enrollment.url).searchParams.get("token") as string;
  const password = `${name}'s long password`;
  const response = await fetch(`${gateway}/_bucky/enroll`, {
    method: "POST",
    redirect: "manual",
    headers: {
      host: HOST,
      origin: `http://${HOST}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token, password, confirm: password }),
  });
  expect(response.status).toBe(303);
  return (response.headers.get("set-cookie") as string).split(";")[0] as string;
}

describe("through the gateway", () => {
  test("an app on another device answers by its pipe, to the person signed in and no one a client names", async () => {
    const cookie = await enrolled("kim");
    const ingressLines = () => beta.log().split("/v1/ingress/echo").length - 1;
    const before = ingressLines();
    for (let i = 0; i < 3; i++) {
      const response = await get("/apps/echo/who", {
        cookie,
        "bucky-user": "mallory",
        Bucky_User: "mallory",
        "bucky-user-role": "owner",
      });
      expect(await response.json()).toEqual({
        path: "/who",
        bucky: { "bucky-user": "kim", "bucky-user-role": "member" },
      });
    }
    // Not one of them went by beta's ingress, which logs each request it serves.
    expect(ingressLines()).toBe(before);
    expect(beta.log()).toContain("/v1/app-pipe");
  });
});

/** A request straight to beta's pipe, presenting the app certificate `seed` makes for `app`. */
function toPipe(seed: Uint8Array, app: string, path = "/who"): Promise<Response> {
  return fetch(`https://127.0.0.1:${betaPipePort}${path}`, {
    tls: {
      ...pinnedTls(betaPeer.certPem),
      cert: certificatePem(appCertificate(signingKeyFromSeed(seed), app as AppName)),
      key: privateKeyPem(seed),
    },
  } as RequestInit);
}

describe("who beta's pipe takes", () => {
  test("the zone's gateway, for an app beta runs", async () => {
    const response = await toPipe(seedOf(alpha), "echo");
    expect(await response.json()).toEqual({ path: "/who", bucky: {} });
  });

  test("a member that is not a gateway: refused, with a whole 403", async () => {
    const response = await toPipe(seedOf(beta), "echo");
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: { message: string } }).error.message).toContain(
      "only the zone's gateways",
    );
  });

  test("a key of no member: refused, with a whole 403", async () => {
    const response = await toPipe(new Uint8Array(32).fill(77), "echo");
    expect(response.status).toBe(403);
  });

  test("a key of no member is not told where the pipe listens", async () => {
    const stranger = new PeerClient(
      signingKeyFromSeed(new Uint8Array(32).fill(77)),
      new MemoryContacts(),
      Date.now,
    );
    const asked = await stranger.get(betaPeer, "/v1/app-pipe").then(
      () => "told",
      (error: BuckyError) => error.code,
    );
    expect(asked).toBe("E_PERMISSION");
  });

  test("an app beta does not run: a whole 503", async () => {
    const response = await toPipe(seedOf(alpha), "nothing");
    expect(response.status).toBe(503);
  });
});

describe("a gateway revoked", () => {
  test("has its open connections to beta's pipe closed, and is refused after", async () => {
    await buckyJson([
      "gateway",
      "enable",
      "--listen",
      `127.0.0.1:${freePort()}`,
      "--tls",
      "off",
      "--home",
      gamma.home,
    ]);
    const gammaSeed = seedOf(gamma);
    // Beta hears by sync that gamma is a gateway: until then its pipe refuses gamma.
    await waitFor("beta's pipe to take gamma", async () =>
      (await toPipe(gammaSeed, "echo")).status === 200 ? true : undefined,
    );
    const open = await toPipe(gammaSeed, "echo", "/endless");
    const reader = (open.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("first");
    await buckyJson(["devices", "revoke", "gamma", "--home", alpha.home]);
    // The open answer ends when beta hears of the revocation (no byte comes otherwise).
    const ended = await reader.read().then(
      (result) => (result.done ? "ended" : "more bytes"),
      () => "ended",
    );
    expect(ended).toBe("ended");
    const after = await toPipe(gammaSeed, "echo").catch(() => undefined);
    expect(after?.status ?? 403).toBe(403);
    expect(beta.log()).toMatch(/app pipe connection.*gateway=gamma.*ended="refused: /);
  }, 60_000);
});
