/**
 * An upgrade, zone-wide: written on alpha for an app pinned to beta, alpha killed at once.
 * The version that runs goes on running until beta holds the new one's package (it was
 * once stopped first, and the app left down for good), served through the gateways; every
 * device says so, in the zone's words; the upgrade goes on once a device with the package
 * answers, even when beta restarted meanwhile (it runs the version before, as it would have
 * gone on doing).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
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

// Restarts of a failed app from 200 ms (1 s by default): the rollback cases wait out three.
const FAST = {
  BUCKY_HEARTBEAT_MS: "300",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_APP_RESTART_MS: "200",
};

interface Status {
  version: string;
  package: string;
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

    const expected = {
      version: "2.0.0",
      state: "pending",
      device: "beta",
      // Where the version before answers, and the gateways send requests meanwhile.
      url: before.url,
      // Why, in beta's words (its report), on every device: it was in beta's log alone.
      // (Alpha, gone, could not be reached; gamma too, should beta's first try find it so.)
      error: expect.stringMatching(
        new RegExp(
          `^the version before runs on beta until 2\\.0\\.0 is ready there: beta says "its package is not on this device yet: no device that answered has ${(await status("gamma")).package}, and (gamma, )?alpha(, gamma)? could not be reached"$`,
        ),
      ),
      reportedBy: null,
    };
    // Beta, just let go, may not be heard alive on gamma yet, and looks for the package first:
    // until beta has said why on each device (or stopped 1.0.0, the bug this guards).
    for (const on of ["gamma", "beta"])
      expect(
        await waitFor(
          `${on} to say why`,
          async () => {
            const s = await status(on);
            return s.error?.includes("not on this device yet") || s.state !== "pending"
              ? s
              : undefined;
          },
          20_000,
        ),
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

describe("bucky store install of an app pinned to a device that has not its package yet", () => {
  test("answers not yet while only the spec is held elsewhere, and the app runs once that device is back", async () => {
    // Gamma installs whoami for beta, which hears nothing meanwhile; alpha takes the spec.
    process.kill(daemon("beta").pid, "SIGSTOP");
    let installing: Promise<{ app: string; state: string; heldElsewhere: string }> | undefined;
    try {
      installing = buckyJson([
        ...["store", "install", "whoami", "--device", "beta", "--home", daemon("gamma").home],
      ]);
      await waitFor(
        "gamma to find that no device that may run whoami holds its package",
        () =>
          daemon("gamma").log().includes("install of whoami: its package held by this device alone")
            ? true
            : undefined,
        15_000,
      );
    } finally {
      process.kill(daemon("beta").pid, "SIGCONT");
    }
    expect(await installing).toMatchObject({ app: "whoami", heldElsewhere: "not yet" });
    // Beta, back, fetches the package and runs it (its first try may find no peer yet).
    await waitFor(
      "whoami running on beta, as gamma says",
      async () => {
        const s = await buckyJson<Status>([
          "app",
          "status",
          "whoami",
          "--home",
          daemon("gamma").home,
        ]);
        return s.state === "running" && s.device === "beta" ? true : undefined;
      },
      20_000,
    );
  }, 60_000);
});

describe("an upgrade that crashes at every start", () => {
  test("is given up for the version that ran, zone-wide, with the device that ordered it killed and the device running it restarted", async () => {
    // Notes 2.0.0 runs on beta (the tests before). Its 3.0.0 cannot start.
    const dir = join(scratchDir(), "notes");
    cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
    const manifest = join(dir, "bucky-app.json");
    writeFileSync(
      manifest,
      JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), version: "3.0.0" }),
    );
    // It starts a migration of the data, then crashes.
    writeFileSync(
      join(dir, "server.ts"),
      [
        'import { writeFileSync } from "node:fs";',
        'writeFileSync(process.env.BUCKY_DATA_DIR + "/db/half-migrated", "3.0.0");',
        'console.error("notes 3.0.0 needs a newer database");',
        "process.exit(3);",
      ].join("\n"),
    );
    const upgraded = await buckyJson<{ upgradedFrom: string; heldElsewhere: string }>([
      ...["app", "install", dir, "--device", "beta", "--home", daemon("alpha").home],
    ]);
    expect([upgraded.upgradedFrom, upgraded.heldElsewhere]).toEqual(["2.0.0", "held"]);
    await daemon("alpha").kill();

    const expected = {
      version: "2.0.0",
      state: "running",
      device: "beta",
      // Beta's words (the last crash it saw), quoted as such; the rest the zone's.
      error:
        'upgrade to 3.0.0 failed: beta says "the process exited with code 3; its last output: notes 3.0.0 needs a newer database"; running 2.0.0',
      reportedBy: null,
    };
    const rolledBack = async (on: string) =>
      waitFor(
        `${on} to say notes went back to 2.0.0`,
        async () => {
          const s = await status(on);
          return s.version === "2.0.0" && s.state === "running" ? s : undefined;
        },
        30_000,
      );
    for (const on of ["gamma", "beta"]) expect(await rolledBack(on)).toMatchObject(expected);
    // 2.0.0 runs on its data as it was before the upgrade; what 3.0.0 left is kept aside.
    const appDir = join(daemon("beta").home, "apps", "notes");
    expect(existsSync(join(appDir, "data", "db", "notes.db"))).toBe(true);
    expect(existsSync(join(appDir, "data", "db", "half-migrated"))).toBe(false);
    expect(readFileSync(join(appDir, "failed-upgrade-data", "db", "half-migrated"), "utf8")).toBe(
      "3.0.0",
    );

    // Beta restarts (killed): it runs the version the zone's spec names, and says the same.
    const pid = pidOnBeta();
    await daemon("beta").kill();
    // As if killed while it put the data back: the copy moved into place, its directory
    // not yet gone. Started again, it finishes that, on the data put back.
    const { value: givenUp } = await buckyJson<{ value: { package: string } }>([
      ...["state", "get", "users/owner/apps/notes/rolled-back", "--home", daemon("gamma").home],
    ]);
    mkdirSync(join(appDir, "before-upgrade"));
    writeFileSync(join(appDir, "before-upgrade", "upgrade-to"), givenUp.package);
    daemons.set("beta", await startDaemon(daemon("beta").home, FAST));
    const version = await waitFor("notes to answer on beta again, from a new process", async () => {
      const url = (await status("gamma")).url;
      const answer = url ? await appFetch(url, "/api/notes").catch(() => undefined) : undefined;
      if (!answer?.ok || pidOnBeta() === pid) return undefined;
      return ((await answer.json()) as { version: string }).version;
    });
    expect(version).toBe("2.0.0");
    for (const on of ["beta", "gamma"])
      expect(
        await waitFor(`${on} to say notes runs again`, async () => {
          const s = await status(on);
          return s.state === "running" ? s : undefined;
        }),
      ).toMatchObject(expected);
    expect([
      existsSync(join(appDir, "data", "db", "notes.db")),
      readFileSync(join(appDir, "failed-upgrade-data", "db", "half-migrated"), "utf8"),
    ]).toEqual([true, "3.0.0"]);
  }, 90_000);
});

describe("an upgrade whose package cannot be fetched where it is to run", () => {
  test("the device restarted meanwhile runs the version before until it has the package, and every device says why", async () => {
    // Notes 2.0.0 runs on beta (the test before). Alpha, back, writes 3.9.0 and then 4.0.0
    // while beta hears nothing, and is killed: only it held their packages. Beta is killed too (a power cut):
    // it once ran neither version when it came back, the app down for as long as alpha was.
    daemons.set("alpha", await startDaemon(daemon("alpha").home, FAST));
    // Alpha was killed before beta gave 3.0.0 up: it hears so first.
    await waitFor("alpha to hear notes went back to 2.0.0", async () =>
      (await status("alpha")).version === "2.0.0" ? true : undefined,
    );
    const dir = join(scratchDir(), "notes");
    cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
    const manifest = join(dir, "bucky-app.json");
    const upgrade = (version: string) => {
      writeFileSync(
        manifest,
        JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), version }),
      );
      return requestDaemon<{ upgradedFrom: string; heldElsewhere: string }>(
        daemon("alpha").home,
        "POST",
        "/v1/apps",
        { dir: resolve(dir), device: "beta" },
      );
    };
    process.kill(daemon("beta").pid, "SIGSTOP");
    // Two upgrades in a row, the first never run: 2.0.0 stays the version before (it once
    // became 3.9.0, and 2.0.0's package was let go of on every device).
    const first = await upgrade("3.9.0");
    expect([first.upgradedFrom, first.heldElsewhere]).toEqual(["2.0.0", "not yet"]);
    const upgraded = await upgrade("4.0.0");
    expect([upgraded.upgradedFrom, upgraded.heldElsewhere]).toEqual(["3.9.0", "not yet"]);
    await daemon("alpha").kill();
    const pid = pidOnBeta();
    await daemon("beta").kill();
    daemons.set("beta", await startDaemon(daemon("beta").home, FAST));

    // As for a beta that did not restart (the first case): 2.0.0 answers where beta says,
    // and every device says why 4.0.0 waits, in beta's words.
    const pkg = (await status("gamma")).package;
    const expected = {
      version: "4.0.0",
      state: "pending",
      device: "beta",
      url: expect.any(String),
      error: expect.stringMatching(
        new RegExp(
          `^the version before runs on beta until 4\\.0\\.0 is ready there: beta says "its package is not on this device yet: no device that answered has ${pkg}, and (gamma, )?alpha(, gamma)? could not be reached"$`,
        ),
      ),
      reportedBy: null,
    };
    for (const on of ["gamma", "beta"])
      expect(
        await waitFor(
          `${on} to say the version before runs on beta, and why`,
          async () => {
            const s = await status(on);
            return (s.url && s.error?.includes("not on this device yet")) || s.state !== "pending"
              ? s
              : undefined;
          },
          20_000,
        ),
      ).toMatchObject(expected);
    const { url } = await status("gamma");
    const answer = await appFetch(url as string, "/api/notes");
    expect([answer.status, ((await answer.json()) as { version: string }).version]).toEqual([
      200,
      "2.0.0",
    ]);
    expect(pidOnBeta()).not.toBe(pid);
    // A note written meanwhile is there after the upgrade.
    const written = await appFetch(url as string, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text: "written while 4.0.0 waited" }),
    });
    expect(written.status).toBe(201);
    // 2.0.0 crashes once and is restarted: why 4.0.0 waits is still said (beta says it again
    // once a minute at most; its reports of 2.0.0 once left it out until then).
    process.kill(Number(pidOnBeta()), "SIGKILL");
    await waitFor(
      "gamma to hear 2.0.0 runs on beta again after its crash",
      async () => {
        const { value } = await buckyJson<{ value: { state: string; restarts: number } }>([
          ...["state", "get", "nodes/beta/apps/notes", "--home", daemon("gamma").home],
        ]);
        return value.state === "running" && value.restarts > 0 ? true : undefined;
      },
      20_000,
    );
    expect(await status("gamma")).toMatchObject(expected);

    // Alpha back with the package: beta runs 4.0.0, on 2.0.0's data.
    daemons.set("alpha", await startDaemon(daemon("alpha").home, FAST));
    const running = await waitFor(
      "notes 4.0.0 running on beta, as gamma says",
      async () => {
        const s = await status("gamma");
        return s.state === "running" && s.version === "4.0.0" ? s : undefined;
      },
      30_000,
    );
    expect(running).toMatchObject({ device: "beta", error: null, reportedBy: "beta" });
    const listed = (await (await appFetch(running.url as string, "/api/notes")).json()) as {
      version: string;
      notes: { text: string }[];
    };
    expect([listed.version, listed.notes.map((note) => note.text)]).toEqual([
      "4.0.0",
      expect.arrayContaining(["written while 4.0.0 waited"]),
    ]);
  }, 90_000);
});
