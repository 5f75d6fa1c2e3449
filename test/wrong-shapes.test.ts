/**
 * Zone-state values another member writes in a shape not theirs: any member writes the
 * apps' specs, and each device its own reports. One such value is that entry absent, named
 * where it is an app's spec, and the rest of the zone (status, the gateway's routes, the
 * other apps) keeps working.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  freePort,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";
import { actAs } from "./member.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

let alpha: Daemon;
let gateway: string;

async function appState(app: string): Promise<string | undefined> {
  const status = await buckyJson<{ state: string }>(["app", "status", app, "--home", alpha.home]);
  return status.state;
}

beforeAll(async () => {
  const zone = await startZone(["alpha", "beta"], FAST);
  alpha = zone.get("alpha") as Daemon;
  const beta = zone.get("beta") as Daemon;
  const port = freePort();
  await buckyJson([
    "gateway",
    "enable",
    "--listen",
    `127.0.0.1:${port}`,
    "--tls",
    "off",
    "--home",
    alpha.home,
  ]);
  gateway = `http://127.0.0.1:${port}`;
  const site = join(scratchDir(), "site");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/site"), site, { recursive: true });
  await buckyJson(["app", "install", site, "--device", "alpha", "--home", alpha.home]);
  await waitFor(
    "site to run",
    async () => ((await appState("site")) === "running" ? true : undefined),
    20_000,
  );
  // From here on the test speaks for beta (a stolen device), so its daemon must not write beside it.
  await beta.stop();
  const member = await actAs(beta.home);
  const changeset = member.changeset([
    { key: "users/owner/apps/five/spec", value: "5" },
    {
      key: "users/owner/apps/hollow/spec",
      value: JSON.stringify({
        app: "hollow",
        version: "1.0.0",
        package: `sha256:${"ab".repeat(32)}`,
        manifest: null,
        placement: "any",
        desired: "running",
        updatedAt: new Date().toISOString(),
      }),
    },
    { key: "nodes/beta/apps/site", value: "[]" },
  ]);
  const ack = await member.push(alpha, [changeset.bytes]);
  expect([ack.applied, ack.rejected]).toEqual([1, 0]);
});

describe("specs and reports another member wrote in a shape not theirs", () => {
  test("bucky status works, and names each app whose spec it cannot read", async () => {
    const status = await buckyJson<{ warnings: string[] }>(["status", "--home", alpha.home]);
    expect(status.warnings.filter((w) => w.startsWith("app "))).toEqual([
      "app five is not run anywhere: its spec in the zone state is not one bucky can read (a spec must be a map); install it again",
      "app hollow is not run anywhere: its spec in the zone state is not one bucky can read (its manifest must be a map); install it again",
    ]);
  });

  test("the gateway still routes to the other apps", async () => {
    const response = await fetch(`${gateway}/apps/site/`);
    expect([response.status, (await response.text()).includes("Hello from my zone")]).toEqual([
      200,
      true,
    ]);
  });

  test("the other apps' lists and changes still work: stopping one stops it", async () => {
    const { apps } = await buckyJson<{ apps: { app: string }[] }>([
      "app",
      "list",
      "--home",
      alpha.home,
    ]);
    expect(apps.map((a) => a.app)).toEqual(["site"]);
    const stopped = await bucky(["app", "stop", "site", "--home", alpha.home]);
    expect([stopped.exitCode, stopped.stderr]).toEqual([0, ""]);
    await waitFor(
      "site to stop",
      async () => ((await appState("site")) === "stopped" ? true : undefined),
      20_000,
    );
    expect(alpha.log()).not.toContain("TypeError");
    // Convergence passed many times meanwhile: each spec was warned of once.
    const warned = alpha
      .log()
      .split("\n")
      .filter((line) => line.includes("app spec unreadable"))
      .map((line) => line.slice(line.indexOf("app spec unreadable")));
    expect(warned).toEqual([
      'app spec unreadable app=five problem="a spec must be a map"',
      'app spec unreadable app=hollow problem="its manifest must be a map"',
    ]);
  });
});
