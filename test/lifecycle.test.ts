/**
 * Apps' lifecycle across devices, with real daemons: a device that was away while its app
 * was removed or moved elsewhere never starts it again when it comes back, whatever it
 * last knew; each asked from a device other than the one that acted, that one killed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

let daemons: Map<string, Daemon>;
const home = (name: string) => (daemons.get(name) as Daemon).home;

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], FAST);
}, 60_000);

/**
 * An app that says each start of its process in its data directory (a line of `starts`),
 * before anything else, then waits: a start of a few milliseconds leaves its line.
 */
function markerApp(id: string, device: string): string {
  const dir = join(scratchDir(), id);
  mkdirSync(dir);
  writeFileSync(
    join(dir, "bucky-app.json"),
    JSON.stringify({
      id,
      version: "1.0.0",
      run: {
        command: ["sh", "-c", 'echo started >> "$BUCKY_DATA_DIR/starts"; exec sleep 1000000'],
      },
      http: {},
      placement: device,
    }),
  );
  return dir;
}

/** How many times the app's process started on `device`, as its data directory says. */
function startsOn(device: string, app: string): number {
  const file = join(home(device), "apps", app, "data", "starts");
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).length : 0;
}

/** The app's spec as `on` holds it now. */
async function specOn(app: string, on: string): Promise<{ desired: string; placement: string }> {
  const entry = await buckyJson<{ value: unknown }>([
    "state",
    "get",
    `users/owner/apps/${app}/spec`,
    "--home",
    home(on),
  ]);
  return (typeof entry.value === "string" ? JSON.parse(entry.value) : entry.value) as {
    desired: string;
    placement: string;
  };
}

function status(app: string, on: string): Promise<AppStatus | undefined> {
  return buckyJson<AppStatus>(["app", "status", app, "--home", home(on)]).catch(() => undefined);
}

/** Installs each app pinned to beta (from alpha), and waits until each started there once. */
async function runningOnBeta(...ids: string[]): Promise<void> {
  for (const id of ids)
    await buckyJson(["app", "install", markerApp(id, "beta"), "--home", home("alpha")]);
  for (const id of ids)
    await waitFor(`${id} running on beta`, async () => {
      const s = await status(id, "gamma");
      return s?.state === "running" && s.device === "beta" && startsOn("beta", id) === 1
        ? s
        : undefined;
    });
}

/**
 * Restarts beta's daemon while `teller`, the only device that can tell it what changed, is
 * paused (SIGSTOP): whatever beta does on its stale view shows, its app started or its
 * saying it waits to catch up first. Then `teller` goes on, and beta hears of the change.
 */
async function betaBack(
  app: string,
  starts: number,
  teller: string,
  heard: () => Promise<boolean>,
): Promise<void> {
  const paused = daemons.get(teller) as Daemon;
  process.kill(paused.pid, "SIGSTOP");
  try {
    const beta = await startDaemon(home("beta"), FAST);
    daemons.set("beta", beta);
    await waitFor("beta to start the app, or to wait to catch up", () =>
      startsOn("beta", app) > starts ||
      beta.log().includes("apps wait until this device has caught up")
        ? true
        : undefined,
    );
  } finally {
    process.kill(paused.pid, "SIGCONT");
  }
  await waitFor("beta to hear of the change", async () => ((await heard()) ? true : undefined));
}

describe("a device away while its app was changed elsewhere", () => {
  beforeAll(() => runningOnBeta("marker", "mover"), 30_000);

  test("removed meanwhile: back, it never starts the app, not for a moment", async () => {
    expect(await (daemons.get("beta") as Daemon).stop()).toBe(0);
    await buckyJson(["app", "remove", "marker", "--home", home("alpha")]);
    // gamma holds the removal; the device that made it is gone for good.
    await waitFor("gamma to hear of the removal", async () =>
      (await specOn("marker", "gamma")).desired === "removed" ? true : undefined,
    );
    await (daemons.get("alpha") as Daemon).kill();
    await betaBack(
      "marker",
      1,
      "gamma",
      async () => (await specOn("marker", "beta")).desired === "removed",
    );
    expect(startsOn("beta", "marker")).toBe(1);
    daemons.set("alpha", await startDaemon(home("alpha"), FAST));
  }, 60_000);

  test("moved to another device meanwhile: back, it never starts the app, which runs there", async () => {
    // Back on beta after the test before (or still there, run alone).
    await waitFor("mover running on beta", async () => {
      const s = await status("mover", "alpha");
      return s?.state === "running" && s.device === "beta" ? s : undefined;
    });
    const before = startsOn("beta", "mover");
    expect(await (daemons.get("beta") as Daemon).stop()).toBe(0);
    await buckyJson([
      "app",
      "move",
      "mover",
      "--to",
      "alpha",
      "--no-wait",
      "--home",
      home("gamma"),
    ]);
    await waitFor("mover running on alpha", async () => {
      const s = await status("mover", "alpha");
      return s?.state === "running" && s.device === "alpha" ? s : undefined;
    });
    // alpha holds the move; the device that made it is gone for good.
    await (daemons.get("gamma") as Daemon).kill();
    await betaBack(
      "mover",
      before,
      "alpha",
      async () => (await specOn("mover", "beta")).placement === "alpha",
    );
    expect(startsOn("beta", "mover")).toBe(before);
    expect(startsOn("alpha", "mover")).toBe(1);
  }, 60_000);
});
