/** The daemon as a process: found through the home, alone per home, crash-safe, installable. */

import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { join } from "node:path";
import { writeBacklog } from "./backlog.ts";
import {
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  type RunResult,
  scratchDir,
  startDaemon,
  startZone,
  stateUnder,
  stopProcess,
  waitFor,
  withTmpfs,
} from "./harness.ts";

afterAll(cleanUp);

/** A daemon's flags to listen on a free port of the loopback. */
const ON_LOOPBACK = ["--port", "0", "--listen", "127.0.0.1"] as const;

describe("the CLI and its daemon", () => {
  test("commands that need the daemon say so when it is not running", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    for (const command of [["state", "list"], ["devices"], ["invite"]]) {
      const result = await bucky([...command, "--home", home, "--json"]);
      expect(result.exitCode).toBe(3);
      expect(jsonError(result)).toEqual({
        code: "E_UNAVAILABLE",
        message: `the bucky daemon for ${home} is not running`,
        hint: `Start it with \`bucky up --home ${home}\` (or \`bucky daemon --home ${home}\` in the foreground).`,
      });
    }
  });

  test("one daemon per home; a crashed one's leftovers do not block the next", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const first = await startDaemon(home);
    const second = await bucky(["daemon", "--home", home, ...ON_LOOPBACK, "--json"]);
    expect([second.exitCode, jsonError(second).code]).toEqual([1, "E_EXISTS"]);
    // One that does not answer (stopped, or its loop blocked) is no less running: no second
    // daemon beside it, signing this device's changesets too, and its socket stays.
    expect(await stopProcess(first.pid)).toBe("stopped");
    try {
      const beside = await bucky([...["daemon", "--home", home, ...ON_LOOPBACK, "--json"]]);
      expect([beside.exitCode, jsonError(beside).code]).toEqual([1, "E_EXISTS"]);
      expect(existsSync(join(home, "daemon.sock"))).toBe(true);
    } finally {
      process.kill(first.pid, "SIGCONT");
    }
    expect(
      (await buckyJson<{ entries: unknown[] }>(["state", "list", "--home", home])).entries.length,
    ).toBeGreaterThan(0);
    // bucky stop ends one that does not answer too: it holds the home's lock.
    expect(await stopProcess(first.pid)).toBe("stopped");
    const stopped = await buckyJson<{ stopped: boolean; pid: number }>(["stop", "--home", home]);
    expect(stopped).toMatchObject({ stopped: true, pid: first.pid });
    expect(await first.exited).toBe(0);
    const again = await startDaemon(home);
    await again.kill();
    expect(existsSync(join(home, "daemon.sock"))).toBe(true);
    const third = await startDaemon(home);
    expect(
      (await buckyJson<{ entries: unknown[] }>(["state", "list", "--home", home])).entries.length,
    ).toBeGreaterThan(0);
    expect(await third.stop()).toBe(0);
  });

  test("status comes from the running daemon, the same as read from the home; a crashed one's socket does not stop it", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    const asked = () => daemon.log().split("path=/v1/status status=200").length;
    const before = asked();
    const live = await buckyJson(["status", "--home", home]);
    await waitFor("the daemon's log of the status it gave", () =>
      asked() > before ? true : undefined,
    );
    await daemon.kill();
    expect(existsSync(join(home, "daemon.sock"))).toBe(true);
    const read = await buckyJson(["status", "--home", home]);
    expect(read).toEqual(live);
  });

  test("a port that is taken is a clear error", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const result = await bucky([
      "daemon",
      "--home",
      home,
      "--port",
      String(blocker.port),
      "--listen",
      "127.0.0.1",
      "--json",
    ]);
    blocker.stop(true);
    expect([result.exitCode, jsonError(result).message]).toEqual([
      3,
      `port ${blocker.port} on 127.0.0.1 is already in use`,
    ]);
  });

  test("bucky up on a new home: a --port that is none makes nothing; a port taken keeps the zone and shows its phrase", async () => {
    const env = { BUCKY_SUPERVISOR: "process" };
    const fresh = newHomePath();
    const bad = await bucky(["up", "--home", fresh, "--port", "abc", "--json"], { env });
    expect([bad.exitCode, bad.stdout, jsonError(bad).message]).toEqual([
      2,
      "",
      "--port abc is not a port number",
    ]);
    expect(existsSync(fresh)).toBe(false);

    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const where = ["--port", String(blocker.port), "--listen", "127.0.0.1", "--gateway", "off"];
    let taken: RunResult;
    try {
      taken = await bucky(["up", "--home", fresh, ...where, "--json"], { env });
    } finally {
      blocker.stop(true);
    }
    // The zone is made, and its recovery phrase (shown this once) is in the result all the
    // same; the exit code says the node did not start.
    expect(taken.exitCode).toBe(3);
    const made = JSON.parse(taken.stdout) as {
      created: boolean;
      recoveryPhrase: string;
      node: unknown;
      nodeProblem: { code: string; message: string };
    };
    expect([made.created, made.recoveryPhrase.split(" ").length, made.node]).toEqual([
      true,
      24,
      null,
    ]);
    expect(made.nodeProblem).toMatchObject({
      code: "E_UNAVAILABLE",
      message: expect.stringContaining("already in use"),
    });
    // Run again, with the port free: the node starts, and no zone is made.
    const again = await buckyJson<{ created: boolean; node: { started: boolean } }>(
      ["up", "--home", fresh, ...ON_LOOPBACK, "--json"],
      { env },
    );
    expect([again.created, again.node.started]).toEqual([false, true]);
    await bucky(["stop", "--home", fresh]);
  });
});

describe("a daemon in the background", () => {
  test("its own output holds no warnings anyone's connections cause: those are in its rotated log", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    const env = { BUCKY_SUPERVISOR: "process" };
    const up = await buckyJson<{ node: { addresses: string[] } }>(
      ["up", "--home", home, ...ON_LOOPBACK, "--json"],
      { env },
    );
    try {
      const peer = (up.node.addresses[0] as string).replace("https", "wss");
      // Control sockets that say a hello that is none: each refused, with a warning.
      for (let i = 0; i < 5; i++) {
        const ws = new WebSocket(`${peer}/v1/relay/attach`, {
          tls: { rejectUnauthorized: false },
        } as unknown as string[]);
        await new Promise<void>((resolve) => {
          ws.onmessage = () => ws.send("not a hello");
          ws.onclose = () => resolve();
        });
      }
      const log = join(home, "logs", "bucky.log");
      await waitFor("the refusals in bucky.log", () =>
        readFileSync(log, "utf8").split("relay tunnel refused").length > 5 ? true : undefined,
      );
      expect(readFileSync(join(home, "logs", "daemon.out"), "utf8")).not.toContain(
        "relay tunnel refused",
      );
    } finally {
      await bucky(["stop", "--home", home]);
    }
  });
});

describe("bucky up after the binary was replaced (a rebuild, an upgrade)", () => {
  test("the node that runs the old file is restarted on the new one; run again, it is left", async () => {
    const dir = scratchDir();
    const binary = join(dir, "bucky");
    copyFileSync(BUCKY, binary);
    chmodSync(binary, 0o755);
    const home = newHomePath();
    const env = { BUCKY_SUPERVISOR: "process" };
    const up = async () =>
      JSON.parse(
        (
          await bucky(["up", "--home", home, ...ON_LOOPBACK, "--gateway", "off", "--json"], {
            env,
            binary,
          })
        ).stdout,
      ) as { node: { pid: number; started: boolean; restarted: boolean } };
    const first = await up();
    expect([first.node.started, first.node.restarted]).toEqual([true, false]);
    try {
      // A new file at the same path, as a build writes one.
      copyFileSync(BUCKY, `${binary}.new`);
      chmodSync(`${binary}.new`, 0o755);
      renameSync(`${binary}.new`, binary);
      const second = await up();
      expect([second.node.started, second.node.restarted]).toEqual([true, true]);
      expect(second.node.pid).not.toBe(first.node.pid);
      expect(existsSync(`/proc/${first.node.pid}`)).toBe(false);
      const third = await up();
      expect([third.node.started, third.node.restarted, third.node.pid]).toEqual([
        false,
        false,
        second.node.pid,
      ]);
    } finally {
      await bucky(["stop", "--home", home], { binary });
    }
  });
});

describe("bucky state", () => {
  test("errors: a missing key, a value that is not JSON, a key bucky manages, a malformed key", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "nas"]);
    await startDaemon(home);
    const missing = await bucky(["state", "get", "apps/none", "--home", home, "--json"]);
    expect([missing.exitCode, jsonError(missing).code]).toEqual([1, "E_NOT_FOUND"]);
    const notJson = await bucky(["state", "set", "apps/x", "hello", "--home", home, "--json"]);
    expect([notJson.exitCode, jsonError(notJson).hint]).toEqual([
      2,
      `Values are JSON: a string needs its own quotes, like '"hello"'.`,
    ]);
    const managed = await bucky([
      "state",
      "set",
      "devices/nas/doc",
      '"x"',
      "--home",
      home,
      "--json",
    ]);
    expect([managed.exitCode, jsonError(managed).code]).toEqual([1, "E_PERMISSION"]);
    const malformed = await bucky(["state", "set", "apps//x", "1", "--home", home, "--json"]);
    expect([malformed.exitCode, jsonError(malformed).code]).toEqual([2, "E_INVALID_INPUT"]);
    const deleted = await bucky(["state", "del", "apps/none", "--home", home, "--json"]);
    expect(deleted.exitCode).toBe(1);
    // Keys a URL would make another path of: refused as keys, nothing read, written or
    // deleted elsewhere (`../rules/<id>` is a rule's path; `?` and `#` end a path).
    const rule = await buckyJson<{ id: string }>([
      ...["rule", "add", "block", "--app", "notes", "--home", home],
    ]);
    for (const args of [
      ["del", `../rules/${rule.id}`],
      ["set", "apps/a/../b", "1"],
      ["set", "apps/y?x=1", "5"],
      ["set", "apps/z#frag", "5"],
      ["get", "../status"],
    ]) {
      const refused = await bucky(["state", ...args, "--home", home, "--json"]);
      const { message } = jsonError(refused);
      expect([args, refused.exitCode, message.startsWith(`invalid key "${args[1]}": `)]).toEqual([
        args,
        2,
        true,
      ]);
    }
    const { rules } = await buckyJson<{ rules: { id: string }[] }>([
      ...["rule", "list", "--home", home],
    ]);
    expect(rules.map((r) => r.id)).toEqual([rule.id]);
    expect(await stateUnder(home, "apps/")).toEqual({});
  });

  test("set, get, list and del, as JSON", async () => {
    const home = newHomePath();
    const init = await buckyJson<{ device: { id: string } }>([
      "init",
      "--home",
      home,
      "--device",
      "nas",
    ]);
    await startDaemon(home);
    const set = await buckyJson<Record<string, unknown>>([
      "state",
      "set",
      "apps/music/volume",
      "7",
      "--home",
      home,
    ]);
    expect(set).toEqual({
      key: "apps/music/volume",
      value: 7,
      updatedAt: expect.any(String),
      author: "nas",
      authorId: init.device.id,
      // The zone's only device: there is no other to hold it.
      heldElsewhere: "alone",
    });
    const { heldElsewhere: _, ...entry } = set;
    expect(await buckyJson(["state", "get", "apps/music/volume", "--home", home])).toEqual(entry);
    await buckyJson(["state", "set", "apps/photos", '{"albums":2}', "--home", home]);
    const listed = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
      "state",
      "list",
      "apps/",
      "--home",
      home,
    ]);
    expect(listed.entries.map((e) => [e.key, e.value])).toEqual([
      ["apps/music/volume", 7],
      ["apps/photos", { albums: 2 }],
    ]);
    expect(await buckyJson(["state", "del", "apps/photos", "--home", home])).toEqual({
      key: "apps/photos",
      deleted: true,
      heldElsewhere: "alone",
    });
    expect((await bucky(["state", "get", "apps/photos", "--home", home])).exitCode).toBe(1);
  });
});

describe("let it crash", () => {
  test("an unexpected fault is logged as fatal and the daemon exits non-zero", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    // Damage the database under the running daemon, as a failing disk or a stray tool might.
    const db = new Database(join(home, "state.db"));
    db.run("DROP TABLE state");
    db.close();
    await bucky(["state", "set", "apps/x", "1", "--home", home]);
    const code = await waitFor("the daemon to exit", async () => {
      const exited = await Promise.race([daemon.stop(), Bun.sleep(5000).then(() => undefined)]);
      return exited === undefined ? undefined : exited;
    });
    expect(code).toBe(70);
    expect(daemon.log()).toContain("FATAL");
  });

  test("a fault in its background work is fatal the same way, not a silent exit", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    const db = new Database(join(home, "state.db"));
    db.run("DROP TABLE state");
    db.close();
    // No request: its own timers (apps, facts, sync) find the damage, and it exits.
    const code = await daemon.exited;
    expect(code).toBe(70);
    expect(daemon.log()).toContain("FATAL");
  });
});

describe("bucky daemon install", () => {
  test("without systemd, prints the unit and how to use it, installing nothing", async () => {
    const home = newHomePath();
    const result = await buckyJson<{ installed: boolean; path: string; unit: string }>([
      "daemon",
      "install",
      "--home",
      home,
      "--port",
      "4500",
    ]);
    expect(result.installed).toBe(false);
    expect(result.unit).toContain(
      `ExecStart=${BUCKY} daemon --home ${home} --port 4500 --log-level error\n`,
    );
    expect(result.unit).toContain("Restart=always\n");
    expect(result.unit).toContain("RestartPreventExitStatus=4 5\n");
    expect(existsSync(result.path)).toBe(false);
    const text = await bucky(["daemon", "install", "--home", home]);
    expect(text.stdout).toStartWith(
      "systemd is not running on this machine, so nothing was installed.",
    );
    expect(await buckyJson(["daemon", "uninstall", "--home", home])).toEqual({
      removed: false,
      path: result.path,
    });
  });
});

describe("a device killed in the middle of a sync", () => {
  test("reopens consistent and finishes the sync", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    await beta.stop();
    await alpha.stop();
    writeBacklog(alpha.home, 120, 400);
    const restartedAlpha = await startDaemon(alpha.home);
    const syncing = await startDaemon(beta.home);
    // The backlog arrives in one transaction of a few hundred milliseconds; kill inside it
    // (or, on a fast day, just after: the database must be consistent either way).
    await waitFor("beta to start", () =>
      syncing.log().includes("daemon started") ? true : undefined,
    );
    await Bun.sleep(60);
    await syncing.kill();

    const db = new Database(join(beta.home, "state.db"));
    expect(db.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    db.close();
    await startDaemon(beta.home);
    const count = async (home: string) =>
      (await buckyJson<{ entries: unknown[] }>(["state", "list", "bulk/", "--home", home])).entries
        .length;
    await waitFor(
      "beta to finish the sync",
      async () => ((await count(beta.home)) === 120 * 400 ? true : undefined),
      20_000,
    );
    expect(await count(restartedAlpha.home)).toBe(120 * 400);
  });
});

describe("where a device's space goes", () => {
  test("measured on one device, every device shows the same figures as of the same time, also once it is gone", async () => {
    const zone = await startZone(["alpha", "beta"]);
    const alpha = zone.get("alpha") as Daemon;
    const beta = zone.get("beta") as Daemon;
    type Disk = { device: string; usage: { measuredAt?: string; state: { keys: number } } | null };
    const diskOf = async (home: string, device: string) =>
      (await buckyJson<{ disk: Disk[] }>(["status", "--disk", "--home", home])).disk.find(
        (d) => d.device === device,
      )?.usage;
    // Alpha's state grows after its daemon first measured it; asked now, it measures again.
    for (const n of [1, 2, 3])
      await buckyJson(["state", "set", `grown/${n}`, "1", "--home", alpha.home]);
    const here = await diskOf(alpha.home, "alpha");
    expect(here?.measuredAt).toBeString();
    expect(Date.now() - Date.parse(here?.measuredAt as string)).toBeLessThan(60_000);
    // Beta shows what alpha was shown, not alpha's figures of ten minutes before.
    await waitFor("beta to show alpha's figures as alpha measured them", async () => {
      const there = await diskOf(beta.home, "alpha");
      return there?.measuredAt === here?.measuredAt ? true : undefined;
    });
    await alpha.kill();
    expect(await diskOf(beta.home, "alpha")).toEqual(here);
    const text = await bucky(["status", "--disk", "--home", beta.home]);
    expect(text.stdout).toContain(`Disk         alpha: `);
    expect(text.stdout).toContain(`, measured ${here?.measuredAt}`);
  });
});

describe("a full disk", () => {
  test("a daemon started on one says so", async () => {
    await withTmpfs("size=16m", async (mount) => {
      const home = join(mount, "home");
      await buckyJson(["init", "--home", home]);
      fillDisk(join(mount, "filler"));
      const started = await bucky(["daemon", "--home", home, "--port", "0", "--json"]);
      expect(started.exitCode).toBe(1);
      expect(jsonError(started).message).toContain("the disk is full");
    });
  });

  test("writes are refused as such, the daemon carries on, and works again once there is room", async () => {
    await withTmpfs("size=16m", async (mount) => {
      const home = join(mount, "home");
      await buckyJson(["init", "--home", home]);
      const daemon = await startDaemon(home, {
        BUCKY_HEARTBEAT_MS: "100",
        BUCKY_CONVERGE_INTERVAL_MS: "100",
      });
      const filler = join(mount, "filler");
      fillDisk(filler);
      const refused = await bucky(["state", "set", "notes/a", '"x"', "--home", home, "--json"]);
      expect(refused.exitCode).toBe(1);
      expect(jsonError(refused)).toMatchObject({
        code: "E_IO",
        message: expect.stringContaining("disk is full"),
      });
      // Heartbeats and the convergence loop fail to write meanwhile; the daemon stays up.
      await Bun.sleep(1_000);
      expect(await buckyJson<{ zone: unknown }>(["status", "--home", home])).toHaveProperty("zone");
      expect(daemon.log()).toContain("the disk is full: changes wait until there is room");
      expect(daemon.log()).not.toContain("FATAL");

      rmSync(filler);
      await buckyJson(["state", "set", "notes/a", '"x"', "--home", home]);
      expect(await buckyJson(["state", "get", "notes/a", "--home", home])).toMatchObject({
        value: "x",
      });
      await daemon.stop();
    });
  }, 30_000);
});

/** Writes `path` until the disk it is on has no room left. */
function fillDisk(path: string): void {
  const block = new Uint8Array(256 * 1024);
  try {
    for (;;) appendFileSync(path, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  }
  try {
    for (;;) appendFileSync(path, new Uint8Array(1024));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  }
}

// That an idle daemon's JIT waits is lib/node/jit-policy.test.ts's.
describe("how eagerly the daemon's code is compiled", () => {
  test("under load, the daemon says it is busy: the JIT compiles as usual", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    const socket = join(home, "daemon.sock");
    // Requests eight at a time until the daemon says it is busy: more than a fifth of a core.
    let loaded = true;
    const load = Array.from({ length: 8 }, async () => {
      while (loaded) {
        const response = await fetch("http://localhost/v1/status", { unix: socket });
        expect(response.status).toBe(200);
        await response.arrayBuffer();
      }
    });
    try {
      await waitFor(
        "the daemon to say it is busy",
        () => (daemon.log().includes("busy: the JIT compiles as usual") ? true : undefined),
        30_000,
      );
    } finally {
      loaded = false;
      await Promise.all(load);
    }
    expect(daemon.log()).toMatch(/busy: the JIT compiles as usual cpu=\d+%/);
  }, 60_000);
});

describe("the local API", () => {
  test("a state key with broken percent-encoding is a usage error, and the daemon carries on", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await startDaemon(home);
    const socket = join(home, "daemon.sock");
    const response = await fetch("http://localhost/v1/state/apps%E0%A4%A", { unix: socket });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("E_USAGE");
    const status = await fetch("http://localhost/v1/status", { unix: socket });
    expect(status.status).toBe(200);
  });

  test("a number in a query that is no whole number is a usage error naming it, not a 500 or a silent 0", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await startDaemon(home);
    const socket = join(home, "daemon.sock");
    const refusal = async (path: string) => {
      const response = await fetch(`http://localhost${path}`, { unix: socket });
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      return [path, response.status, error.code, error.message.split(" ")[0]];
    };
    expect(
      await Promise.all(
        [
          "/v1/traffic?since=abc",
          "/v1/traffic?since=1&bucketMs=-5",
          "/v1/traffic/zone?since=yesterday",
          "/v1/agents/log?limit=1e3",
        ].map(refusal),
      ),
    ).toEqual([
      ["/v1/traffic?since=abc", 400, "E_USAGE", "since"],
      ["/v1/traffic?since=1&bucketMs=-5", 400, "E_USAGE", "bucketMs"],
      ["/v1/traffic/zone?since=yesterday", 400, "E_USAGE", "since"],
      ["/v1/agents/log?limit=1e3", 400, "E_USAGE", "limit"],
    ]);
    const answered = await fetch("http://localhost/v1/traffic?since=0&bucketMs=3600000", {
      unix: socket,
    });
    expect([answered.status, ((await answered.json()) as { since: string }).since]).toEqual([
      200,
      new Date(0).toISOString(),
    ]);
  });

  test("a backup target's name and address are values: never a path out, never a flag", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await startDaemon(home);
    const socket = join(home, "daemon.sock");
    const add = (name: string, url: string) =>
      fetch("http://localhost/v1/backups/targets", {
        method: "POST",
        unix: socket,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name, url }),
      });
    for (const name of ["../../escaped", "--no-backup"]) {
      const refused = await add(name, join(home, "..", "repo"));
      expect([name, refused.status]).toEqual([name, 400]);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toBe(
        `${JSON.stringify(name)} is not a target name`,
      );
    }
    expect(existsSync(join(home, "escaped.json"))).toBe(false);
    // An address that looks like a flag, or any relative path: refused, nothing added.
    const flag = await add("usb", "--identity=/etc/shadow");
    expect(flag.status).toBe(400);
    expect(((await flag.json()) as { error: { message: string } }).error.message).toBe(
      '"--identity=/etc/shadow" is neither an absolute directory path nor an sftp:// address',
    );
    const { targets } = await buckyJson<{ targets: unknown[] }>([
      "backup",
      "target",
      "list",
      "--home",
      home,
    ]);
    expect(targets).toEqual([]);
  });
});

describe("a state database another process holds", () => {
  test("a write that cannot wait is refused as unavailable, and the daemon carries on", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    // Another process takes the write lock and keeps it past the daemon's wait (5 s): until
    // it is told to let go, once the daemon has refused. It waits its turn for the lock, as
    // the daemon's own short writes (its first collection runs in steps) may hold it then.
    const holder = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { Database } = require("bun:sqlite");
         const db = new Database(${JSON.stringify(join(home, "state.db"))});
         db.run("PRAGMA busy_timeout = 10000");
         db.run("BEGIN IMMEDIATE"); console.log("held");
         for await (const _ of console) break;
         db.run("ROLLBACK");`,
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
    );
    const reader = holder.stdout.getReader();
    await reader.read(); // "held"
    const refused = await bucky(["state", "set", "apps/x", "1", "--home", home, "--json"]);
    holder.stdin.write("let go\n");
    holder.stdin.end();
    expect([refused.exitCode, jsonError(refused).code]).toEqual([3, "E_UNAVAILABLE"]);
    await holder.exited;
    expect(await buckyJson(["state", "set", "apps/x", "2", "--home", home])).toBeTruthy();
    expect(daemon.log()).not.toContain("FATAL");
  }, 30_000);
});
