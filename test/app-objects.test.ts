/**
 * Named data an app stores through its API is the zone's, as files stored with `bucky put`
 * are: another device takes a copy, the object is had from it with the app's device
 * killed, and the app letting it go lets it go on every device. Kept on the app's device
 * alone, it was lost with that device, and collected there a day later.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  appDir,
  appFetch,
  buckyJson,
  cleanUp,
  type Daemon,
  scratchDir,
  startDaemon,
  startZone,
  stateUnder,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/** Stores a request's body through the app API (POST /store), and lets an object go (DELETE /store/<id>). */
const VAULT = `
const api = (method, path, body) =>
  fetch("http://api" + path, {
    method,
    unix: process.env.BUCKY_API_SOCKET,
    headers: { authorization: "Bearer " + process.env.BUCKY_APP_TOKEN },
    ...(body ? { body } : {}),
  });
Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT),
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    if (url.pathname === "/store" && request.method === "POST")
      return api("POST", "/v1/objects", await request.arrayBuffer());
    if (url.pathname.startsWith("/store/") && request.method === "DELETE")
      return api("DELETE", "/v1/objects/" + url.pathname.slice("/store/".length));
    return new Response("no", { status: 404 });
  },
});
`;

let alpha: Daemon;
let beta: Daemon;
let vault: string;

/** The keys under `prefix` that `home`'s state holds live. */
const liveKeys = async (home: string, prefix: string) =>
  Object.keys(await stateUnder(home, prefix));

async function store(bytes: Uint8Array): Promise<string> {
  const response = await appFetch(vault, "/store", { method: "POST", body: bytes });
  expect(response.status).toBe(200);
  const stored = (await response.json()) as { id: string; size: number; withinBudget: boolean };
  expect(stored).toMatchObject({ size: bytes.length, withinBudget: true });
  return stored.id;
}

const copiedBy = (home: string, device: string, id: string) =>
  waitFor(`${device} to hold a copy of ${id}`, async () =>
    (await liveKeys(home, `nodes/${device}/files/`)).includes(`nodes/${device}/files/${id}`)
      ? true
      : undefined,
  );

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], { BUCKY_HEARTBEAT_MS: "500" });
  alpha = zone.get("alpha") as Daemon;
  beta = zone.get("beta") as Daemon;
  const dir = appDir(
    {
      id: "vault",
      version: "1.0.0",
      run: { command: ["bun", "main.ts"] },
      http: {},
      health: { path: "/health", intervalMs: 300 },
      placement: "alpha",
      permissions: ["ndn.read", "ndn.write"],
    },
    { "main.ts": VAULT },
  );
  await buckyJson(["app", "install", dir, "--home", beta.home]);
  vault = await waitFor("vault running on alpha", async () => {
    const status = await buckyJson<{ state: string; device: string; url: string | null }>([
      "app",
      "status",
      "vault",
      "--home",
      alpha.home,
    ]);
    return status.state === "running" && status.device === "alpha" && status.url
      ? status.url
      : undefined;
  });
}, 60_000);

describe("named data an app stores", () => {
  test("is recorded in the zone for the app, and copied by another device", async () => {
    const id = await store(randomBytes(200_000));
    expect(await liveKeys(beta.home, "system/files/apps/vault/")).toEqual([
      `system/files/apps/vault/${id}`,
    ]);
    await copiedBy(beta.home, "beta", id);
    const { storedFiles } = await buckyJson<{ storedFiles: { files: number } }>([
      "status",
      "--home",
      beta.home,
    ]);
    expect(storedFiles.files).toBe(1);
  });

  test("let go by the app, is let go on every device", async () => {
    const id = await store(randomBytes(1000));
    await copiedBy(beta.home, "beta", id);
    const response = await appFetch(vault, `/store/${id}`, { method: "DELETE" });
    expect(await response.json()).toEqual({ id, deleted: true });
    await waitFor("beta to hear the app let it go", async () =>
      (await liveKeys(beta.home, "system/files/apps/vault/")).includes(
        `system/files/apps/vault/${id}`,
      )
        ? undefined
        : true,
    );
    // Letting go of what it does not hold: nothing to delete.
    const again = await appFetch(vault, `/store/${id}`, { method: "DELETE" });
    expect(await again.json()).toEqual({ id, deleted: false });
    expect((await appFetch(vault, "/store/not-an-id", { method: "DELETE" })).status).toBe(400);
  });

  test("is had from another device with the app's device killed", async () => {
    const bytes = randomBytes(300_000);
    const id = await store(bytes);
    await copiedBy(beta.home, "beta", id);
    await alpha.kill();
    const out = join(scratchDir(), "fetched");
    await buckyJson(["get", id, "-o", out, "--home", beta.home]);
    expect(Buffer.from(readFileSync(out)).equals(bytes)).toBe(true);
  });

  test("goes with the app's data when the owner removes it with --purge", async () => {
    alpha = await startDaemon(alpha.home, { BUCKY_HEARTBEAT_MS: "500" });
    expect(await liveKeys(beta.home, "system/files/apps/vault/")).toHaveLength(2);
    // The owner key is alpha's: only it purges.
    await buckyJson(["app", "remove", "vault", "--purge", "--home", alpha.home]);
    await waitFor("beta to hear the app's objects let go", async () =>
      (await liveKeys(beta.home, "system/files/apps/vault/")).length === 0 ? true : undefined,
    );
  }, 30_000);
});
