/** Many devices, one zone: join, converge, catch up after being offline. */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  answeredOnceHeld,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

describe("three devices", () => {
  test("join, write on each, converge; one stops, misses writes, catches up on restart", async () => {
    const daemons = await startZone(["alpha", "beta", "gamma"]);
    const home = (name: string) => (daemons.get(name) as { home: string }).home;

    const devices = await buckyJson<{ devices: { name: string; status: string }[] }>([
      "devices",
      "--home",
      home("alpha"),
    ]);
    expect(devices.devices.map((d) => d.name)).toEqual(["alpha", "beta", "gamma"]);

    await buckyJson(["state", "set", "apps/a", '{"by":"alpha"}', "--home", home("alpha")]);
    await buckyJson(["state", "set", "apps/b", '"beta"', "--home", home("beta")]);
    await buckyJson(["state", "set", "apps/c", "3", "--home", home("gamma")]);
    const everything = { "apps/a": { by: "alpha" }, "apps/b": "beta", "apps/c": 3 };
    for (const name of ["alpha", "beta", "gamma"]) {
      await waitFor(`${name} to see every write`, async () =>
        JSON.stringify(await userState(home(name))) === JSON.stringify(everything)
          ? true
          : undefined,
      );
    }
    // Who wrote what is kept.
    const b = await buckyJson<{ author: string; value: unknown }>([
      "state",
      "get",
      "apps/b",
      "--home",
      home("gamma"),
    ]);
    expect([b.author, b.value]).toEqual(["beta", "beta"]);

    // gamma stops cleanly on SIGTERM and leaves no daemon files behind.
    expect(await (daemons.get("gamma") as { stop(): Promise<number | null> }).stop()).toBe(0);
    expect(existsSync(join(home("gamma"), "daemon.json"))).toBe(false);
    expect(existsSync(join(home("gamma"), "daemon.sock"))).toBe(false);
    const offline = await bucky(["state", "get", "apps/a", "--home", home("gamma"), "--json"]);
    expect(offline.exitCode).toBe(3);
    expect(jsonError(offline).code).toBe("E_UNAVAILABLE");

    await buckyJson(["state", "set", "apps/a", '"changed"', "--home", home("alpha")]);
    await buckyJson(["state", "del", "apps/b", "--home", home("beta")]);
    await buckyJson(["state", "set", "apps/d", "[1,2]", "--home", home("beta")]);
    const after = { "apps/a": "changed", "apps/c": 3, "apps/d": [1, 2] };
    await waitFor("alpha and beta to agree", async () =>
      JSON.stringify(await userState(home("alpha"))) === JSON.stringify(after) &&
      JSON.stringify(await userState(home("beta"))) === JSON.stringify(after)
        ? true
        : undefined,
    );

    await startDaemon(home("gamma"));
    await waitFor("gamma to catch up", async () =>
      JSON.stringify(await userState(home("gamma"))) === JSON.stringify(after) ? true : undefined,
    );
    const seen = await buckyJson<{ devices: { name: string; status: string }[] }>([
      "devices",
      "--home",
      home("gamma"),
    ]);
    expect(seen.devices.map((d) => [d.name, d.status])).toEqual([
      ["alpha", "online"],
      ["beta", "online"],
      ["gamma", "online"],
    ]);
  });
});

describe("a state write", () => {
  test("answers once another device holds it, and outlives the device that wrote it (SIGKILL)", async () => {
    const daemons = await startZone(["alpha", "beta"]);
    const alpha = daemons.get("alpha") as Daemon;
    const beta = daemons.get("beta") as Daemon;
    const inTouch = (home: string) =>
      waitFor("the devices in touch", async () => {
        const { devices } = await buckyJson<{ devices: { status: string }[] }>([
          "devices",
          "--home",
          home,
        ]);
        return devices.every((d) => d.status === "online") ? true : undefined;
      });
    await inTouch(alpha.home);
    // beta paused: alpha must not say the write is done while it alone holds it.
    const set = await answeredOnceHeld(
      [beta],
      () => buckyJson(["state", "set", "apps/kept", '"by alpha"', "--home", alpha.home]),
      { what: "alpha's write", seen: () => /state changed[^\n]*apps\/kept/.test(alpha.log()) },
    );
    expect(set).toMatchObject({ key: "apps/kept", value: "by alpha", heldElsewhere: "held" });
    await alpha.kill();
    expect(await buckyJson(["state", "get", "apps/kept", "--home", beta.home])).toMatchObject({
      value: "by alpha",
      author: "alpha",
    });

    // The same for a deletion, the other way round.
    const back = await startDaemon(alpha.home);
    await inTouch(beta.home);
    const deleted = await answeredOnceHeld(
      [back],
      () => buckyJson(["state", "del", "apps/kept", "--home", beta.home]),
      { what: "beta's deletion", seen: () => /state changed[^\n]*apps\/kept/.test(beta.log()) },
    );
    expect(deleted).toEqual({ key: "apps/kept", deleted: true, heldElsewhere: "held" });
    await beta.kill();
    expect(
      jsonError(await bucky(["state", "get", "apps/kept", "--home", back.home, "--json"])).code,
    ).toBe("E_NOT_FOUND");
  }, 60_000);
});

describe("a state write, its one peer away longer than a push waits", () => {
  test("is answered held as soon as the peer, back, pulls it: not at either's next round", async () => {
    // beta's rounds 8 s apart, alpha's an hour: after its first round back, beta tells
    // alpha it holds the write by that round alone, or alpha hears it 8 s later at best.
    const daemons = await startZone(["alpha", "beta"], { BUCKY_SYNC_INTERVAL_MS: "8000" });
    const beta = daemons.get("beta") as Daemon;
    const first = daemons.get("alpha") as Daemon;
    const bothOnline = (home: string) =>
      waitFor(
        "each to know where the other listens",
        async () => {
          const { devices } = await buckyJson<{ devices: { status: string }[] }>([
            "devices",
            "--home",
            home,
          ]);
          return devices.every((d) => d.status === "online") ? true : undefined;
        },
        30_000,
      );
    await bothOnline(first.home);
    await first.stop();
    const alpha = await startDaemon(
      first.home,
      { BUCKY_SYNC_INTERVAL_MS: "3600000", BUCKY_HELD_WAIT_MS: "7000" },
      { port: Number(new URL(first.addresses[0] as string).port) },
    );
    await bothOnline(alpha.home);
    process.kill(beta.pid, "SIGSTOP");
    const stoppedAt = Date.now();
    try {
      // A push of a write to beta gives up (beta does not answer): alpha waits beta out,
      // and pushes it nothing more; nothing of alpha's is under way to it.
      const waitedOut = () =>
        alpha
          .log()
          .split("\n")
          .some((line) => line.startsWith("WARN", 13) && line.includes("peer=beta"));
      await buckyJson(["state", "set", "apps/before", "1", "--no-wait", "--home", alpha.home]);
      await waitFor("alpha to wait beta out", () => (waitedOut() ? true : undefined), 40_000);
      const setAt = Date.now();
      const set = buckyJson<{ heldElsewhere: string }>([
        "state",
        "set",
        "apps/away",
        '"by alpha"',
        "--home",
        alpha.home,
      ]);
      await waitFor("alpha's write", () =>
        /state changed[^\n]*apps\/away/.test(alpha.log()) ? true : undefined,
      );
      // Stopped longer than beta's round interval: its round is due the moment it is let go
      // (a laptop waking up). Let go at least a second into alpha's 7 s wait.
      await Bun.sleep(Math.max(0, stoppedAt + 8_500 - Date.now(), setAt + 1_000 - Date.now()));
      process.kill(beta.pid, "SIGCONT");
      expect((await set).heldElsewhere).toBe("held");
    } finally {
      process.kill(beta.pid, "SIGCONT");
    }
  }, 120_000);
});

describe("a zone write on a device whose fellow has not started yet", () => {
  test("says no other device holds it yet, not that this device is alone", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "alpha"]);
    await startDaemon(home);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", home]);
    await buckyJson(["join", token, "--home", newHomePath(), "--device", "beta", "--no-start"]);
    // beta is a member, its daemon never started: lost with alpha, the write is gone.
    const set = await bucky(["state", "set", "apps/x", "1", "--home", home]);
    expect(set.stdout).toContain("keep this device running until another has synced it");
    const json = await buckyJson(["state", "set", "apps/x", "2", "--home", home]);
    expect(json.heldElsewhere).toBe("not yet");
  }, 30_000);
});

describe("presence", () => {
  test("devices learn each other is alive at every heartbeat, and the log does not grow", async () => {
    const daemons = await startZone(["alpha", "beta"], { BUCKY_HEARTBEAT_MS: "100" });
    const [alpha, beta] = [daemons.get("alpha"), daemons.get("beta")] as [Daemon, Daemon];
    const read = <T>(home: string, sql: string): T => {
      const db = new Database(join(home, "state.db"), { readonly: true });
      try {
        return db.query(sql).get() as T;
      } finally {
        db.close();
      }
    };
    const changesets = (home: string) =>
      read<{ n: number }>(home, "SELECT count(*) AS n FROM changesets").n;
    const { device } = await buckyJson<{ device: { id: string } }>([
      "status",
      "--home",
      alpha.home,
    ]);
    // When beta last heard, through sync, that alpha was alive (alpha's own clock).
    const alphaAliveOnBeta = () =>
      read<{ at: number } | null>(
        beta.home,
        `SELECT at FROM presence WHERE device = '${device.id}'`,
      )?.at;

    const first = await waitFor("alpha's presence on beta", alphaAliveOnBeta);
    // The daemons settle (documents, addresses, reports) before counting.
    await Bun.sleep(1_500);
    const before = [changesets(alpha.home), changesets(beta.home)];
    await Bun.sleep(1_500);
    expect([changesets(alpha.home), changesets(beta.home)]).toEqual(before);
    expect((alphaAliveOnBeta() ?? 0) - first).toBeGreaterThan(1_000);

    // One machine, one clock: no device says another's is ahead.
    const { devices } = await buckyJson<{
      devices: { name: string; clockAhead: unknown }[];
    }>(["devices", "--home", alpha.home]);
    expect(Object.fromEntries(devices.map((d) => [d.name, d.clockAhead]))).toEqual({
      alpha: null,
      beta: null,
    });
  }, 30_000);
});
