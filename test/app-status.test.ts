/**
 * `bucky app status` of an app pinned to a device that goes away, asked from another: its
 * last report is not shown as if it still ran. Every device but that one says it is offline
 * (as `bucky app logs` does); back, it says the app stopped until it runs it again, and
 * every device says it runs again once it does.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  appFetch,
  buckyJson,
  cleanUp,
  type Daemon,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

const FAST = { BUCKY_HEARTBEAT_MS: "300", BUCKY_CONVERGE_INTERVAL_MS: "300" };

interface Status {
  state: string;
  device: string | null;
  url: string | null;
  error: string | null;
  reportedBy: string | null;
}

let daemons: Map<string, Daemon>;
const daemon = (name: string) => daemons.get(name) as Daemon;
const status = (on: string) =>
  buckyJson<Status>(["app", "status", "whoami", "--home", daemon(on).home]);

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta"], FAST);
});

describe("an app whose pinned device went away", () => {
  test("is said offline from another device, then running once it is back", async () => {
    const whoami = resolve(import.meta.dir, "../fixtures/apps/whoami");
    await buckyJson(["app", "install", whoami, "--device", "beta", "--home", daemon("alpha").home]);
    await waitFor("whoami running on beta, as alpha says", async () =>
      (await status("alpha")).state === "running" ? true : undefined,
    );
    // The device dies, and the app with it.
    const pidFile = join(daemon("beta").home, "apps", "whoami", "pid");
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, "utf8")) : undefined;
    await daemon("beta").kill();
    if (pid) process.kill(pid, "SIGKILL");
    const offline = await waitFor("alpha to say beta is offline", async () => {
      const s = await status("alpha");
      return s.state !== "running" ? s : undefined;
    });
    expect(offline).toMatchObject({
      state: "pending",
      device: "beta",
      url: null,
      error: "beta is offline: when last heard, it said the app was running",
      reportedBy: null,
    });
    // Back, with alpha paused: beta cannot catch up, so it runs nothing yet. What it said
    // before it was killed is not said as if the app ran there still (it said running, at
    // an address where nothing answered, and the zone took its word once beta was heard).
    process.kill(daemon("alpha").pid, "SIGSTOP");
    try {
      daemons.set("beta", await startDaemon(daemon("beta").home, FAST));
      expect(await status("beta")).toMatchObject({ state: "stopped", device: "beta", url: null });
    } finally {
      process.kill(daemon("alpha").pid, "SIGCONT");
    }
    const back = await waitFor(
      "whoami running on beta again, as alpha says",
      async () => {
        const s = await status("alpha");
        return s.state === "running" ? s : undefined;
      },
      20_000,
    );
    expect(back).toMatchObject({ device: "beta", error: null, reportedBy: "beta" });
    // Where it says it runs, it answers.
    expect((await appFetch(back.url as string, "/health")).status).toBe(200);
  }, 60_000);
});
