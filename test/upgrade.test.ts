/**
 * An upgrade, zone-wide: written on alpha for an app pinned to beta, alpha killed at once.
 * The version that runs goes on running until beta holds the new one's package (it was
 * once stopped first, and the app left down for good), served through the gateways; every
 * device says so, in the zone's words; the upgrade goes on once a device with the package
 * answers.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import {
  appFetch,
  buckyJson,
  cleanUp,
  type Daemon,
  enableGateway,
  scratchDir,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

interface Status {
  version: string;
  state: string;
  device: string | null;
  url: string | null;
  error: string | null;
  reportedBy: string | null;
}

let daemons: Map<string, Daemon>;
const daemon = (name: string) => daemons.get(name) as Daemon;

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], FAST);
});

const status = (on: string) =>
  buckyJson<Status>(["app", "status", "notes", "--home", daemon(on).home]);

/** The app's process on beta, as its pid file says. */
const pidOnBeta = () => readFileSync(join(daemon("beta").home, "apps", "notes", "pid"), "utf8");

describe("an upgrade whose package only the device that wrote it held", () => {
  test("beta keeps running the version before, and every device says why", async () => {
    const dir = join(scratchDir(), "notes");
    cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
    await buckyJson(["app", "install", dir, "--device", "beta", "--home", daemon("alpha").home]);
    const before = await waitFor("notes running on beta, as gamma says", async () => {
      const s = await status("gamma");
      return s.state === "running" && s.device === "beta" ? s : undefined;
    });
    const pid = pidOnBeta();
    const gateway = await enableGateway(daemon("gamma").home);
    const throughGateway = () => fetch(`${gateway}/apps/notes/api/notes`);
    await waitFor("gamma's gateway to reach notes", async () =>
      (await throughGateway()).ok ? true : undefined,
    );

    // Beta hears of the upgrade only after alpha, the one device with its package, is gone.
    process.kill(daemon("beta").pid, "SIGSTOP");
    const manifest = join(dir, "bucky-app.json");
    writeFileSync(
      manifest,
      JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), version: "2.0.0" }),
    );
    // Asked of the daemon itself: it waits for another device to hold the spec and the
    // package (what is checked here), not for the app to run on beta, paused (what
    // `bucky app install` waits for too, and `--no-wait` waits for neither).
    const upgraded = await requestDaemon<{ upgradedFrom: string; heldElsewhere: string }>(
      daemon("alpha").home,
      "POST",
      "/v1/apps",
      { dir: resolve(dir), device: "beta" },
    );
    // Its spec is on gamma, but its package on alpha alone: the upgrade is not safe yet.
    expect([upgraded.upgradedFrom, upgraded.heldElsewhere]).toEqual(["1.0.0", "not yet"]);
    await daemon("alpha").kill();
    process.kill(daemon("beta").pid, "SIGCONT");

    // Beta has looked for the package (and found it nowhere), or stopped the app to run it.
    await waitFor(
      "beta to wait for the new package, or to stop 1.0.0",
      async () =>
        daemon("beta").log().includes("app upgrade waits for its package") ||
        (await status("gamma")).state !== "pending" ||
        undefined,
      20_000,
    );
    const expected = {
      version: "2.0.0",
      state: "pending",
      device: "beta",
      // Where the version before answers, and the gateways send requests meanwhile.
      url: before.url,
      error: "the version before runs on beta until 2.0.0 is ready there",
      reportedBy: null,
    };
    // Beta, just let go, may not be heard alive on gamma yet: said offline until it is.
    for (const on of ["gamma", "beta"])
      expect(
        await waitFor(`${on} to say why`, async () => {
          const s = await status(on);
          return s.error?.startsWith("beta is offline") ? undefined : s;
        }),
      ).toMatchObject(expected);
    // The version before still answers, in the same process.
    expect(pidOnBeta()).toBe(pid);
    const answer = await appFetch(before.url as string, "/health");
    expect(answer.status).toBe(200);
    // And so it does through the zone's gateway, which once answered 503 for an app pending.
    expect((await throughGateway()).status).toBe(200);
  }, 60_000);

  test("once alpha is back with the package, beta runs the new version", async () => {
    daemons.set("alpha", await startDaemon(daemon("alpha").home, FAST));
    const upgraded = await waitFor(
      "notes 2.0.0 running on beta, as gamma says",
      async () => {
        const s = await status("gamma");
        return s.state === "running" && s.version === "2.0.0" ? s : undefined;
      },
      30_000,
    );
    expect(upgraded).toMatchObject({ device: "beta", error: null, reportedBy: "beta" });
    const listed = (await (await appFetch(upgraded.url as string, "/api/notes")).json()) as {
      version: string;
    };
    expect(listed.version).toBe("2.0.0");
  }, 60_000);
});
