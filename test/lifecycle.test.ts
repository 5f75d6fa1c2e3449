/**
 * Apps' lifecycle across devices, with real daemons: a device that was away while its app
 * was removed or moved elsewhere never starts it again when it comes back, whatever it
 * last knew; each asked from a device other than the one that acted, that one killed.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
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
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
/** Devices alive every 300 ms; a standby reads its copy of app data back every second. */
const FAST = {
  BUCKY_HEARTBEAT_MS: "300",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_REPLICA_VERIFY_EVERY_MS: "1000",
};

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
async function specOn(
  app: string,
  on: string,
): Promise<{ desired: string; placement: string; moveTo?: string | null }> {
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
    moveTo?: string | null;
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
    daemons.set("gamma", await startDaemon(home("gamma"), FAST));
  }, 60_000);
});

describe("an app with no data, placed on any device, moved", () => {
  test("runs where it was moved, as a device other than the one that asked says, that one gone", async () => {
    await buckyJson(["app", "install", markerApp("roamer", "any"), "--home", home("alpha")]);
    const first = await waitFor("roamer running", async () => {
      const s = await status("roamer", "alpha");
      return s?.state === "running" && s.device ? s : undefined;
    });
    const [target, asker] = ["alpha", "beta", "gamma"].filter((d) => d !== first.device) as [
      string,
      string,
    ];
    await buckyJson(["app", "move", "roamer", "--to", target, "--no-wait", "--home", home(asker)]);
    await waitFor(`${target} to hold the move`, async () =>
      (await specOn("roamer", target)).moveTo === target ? true : undefined,
    );
    await (daemons.get(asker) as Daemon).kill();
    await waitFor(`roamer running on ${target}`, async () => {
      const s = await status("roamer", first.device as string);
      return s?.state === "running" && s.device === target ? s : undefined;
    });
    await buckyJson(["app", "remove", "roamer", "--home", home(target)]);
    daemons.set(asker, await startDaemon(home(asker), FAST));
  }, 60_000);
});

const { status: notesStatus, notes, write, settled, install, killDevice } = notesApp(() => daemons);

describe("an app with data moved, then its new device gone", () => {
  test("the move done, the spec keeps no target: the failover after it is not undone, nor said to be a move", async () => {
    const first = await install(NOTES, "gamma");
    const [target, third] = ["alpha", "beta", "gamma"].filter((d) => d !== first) as [
      string,
      string,
    ];
    await settled(third, first);
    const moved = await buckyJson<{ arrived: boolean }>([
      "app",
      "move",
      "notes",
      "--to",
      target,
      "--home",
      home(first),
    ]);
    expect(moved.arrived).toBe(true);
    // The device that asked is gone; the rest say the move is over, not under way.
    await killDevice(first);
    await waitFor("the move to be over, as a third device says", async () =>
      (await status("notes", third))?.data?.movingTo === null ? true : undefined,
    );
    daemons.set(first, await startDaemon(home(first), FAST));
    const settledOnTarget = await settled(third, target);
    // Its new device dies: the standby takes over, and stays the holder, moving nowhere.
    const standby = settledOnTarget.data?.standbys[0]?.device as string;
    await killDevice(target);
    const failedOver = await settled(third === standby ? first : third, standby);
    expect(failedOver.data?.movingTo).toBeNull();
    daemons.set(target, await startDaemon(home(target), FAST));
    const after = await settled(target, standby);
    expect([after.device, after.data?.movingTo]).toEqual([standby, null]);
  }, 90_000);
});

/**
 * Damages the biggest blob of a standby's copy of the notes' data in place, as a failing
 * disk would (its daemon running): the same length, other bytes. Returns its id.
 */
function damageBiggestBlob(deviceHome: string): string {
  const db = new Database(join(deviceHome, "replicas", "notes", "replica.db"));
  try {
    const row = db
      .query<{ id: string; bytes: Uint8Array }, []>(
        "SELECT id, bytes FROM blobs ORDER BY LENGTH(bytes) DESC LIMIT 1",
      )
      .get();
    if (!row) throw new Error(`${deviceHome} has no copy of the notes' data`);
    const damaged = new Uint8Array(row.bytes);
    for (let i = 0; i < damaged.length; i += 512) damaged[i] = (damaged[i] ?? 0) ^ 0xff;
    db.query("UPDATE blobs SET bytes = ?1 WHERE id = ?2").run(damaged, row.id);
    return row.id;
  } finally {
    db.close();
  }
}

/** Whether the standby's copy holds blob `id` with its own bytes. */
function intactBlob(deviceHome: string, id: string): boolean {
  const db = new Database(join(deviceHome, "replicas", "notes", "replica.db"), {
    readonly: true,
  });
  try {
    const row = db
      .query<{ bytes: Uint8Array }, [string]>("SELECT bytes FROM blobs WHERE id = ?1")
      .get(id);
    return row !== null && createHash("sha256").update(row.bytes).digest("hex") === id;
  } finally {
    db.close();
  }
}

describe("a standby's copy of app data damaged on its disk", () => {
  test("is found and fetched again in the background, no takeover needed; taken over later, it is whole", async () => {
    const running = await waitFor(
      "notes running with a standby",
      async () => {
        const s = await notesStatus("alpha").catch(() => undefined);
        return s?.state === "running" && s.device && s.data?.standbys[0] ? s : undefined;
      },
      30_000,
    );
    const holder = running.device as string;
    const standby = running.data?.standbys[0]?.device as string;
    const asker = ["alpha", "beta", "gamma"].find((d) => d !== holder && d !== standby) as string;
    await write(holder, "kept through a failing disk");
    await settled(asker, holder);
    const written = await notes(holder);
    const epoch = running.data?.holder?.epoch;
    const damagedAt = Date.now();
    const blob = damageBiggestBlob(home(standby));
    // Another device says the standby read its copy back since, and it is whole again.
    await waitFor(
      "the damage found and repaired, as another device says",
      async () => {
        const s = await notesStatus(asker);
        const copy = s.data?.standbys.find((x) => x.device === standby);
        return copy?.damagedBlobs === 0 &&
          Date.parse(copy.verifiedAt ?? "") > damagedAt &&
          intactBlob(home(standby), blob)
          ? s
          : undefined;
      },
      20_000,
    );
    expect((daemons.get(standby) as Daemon).log()).toContain(
      "damaged blobs found in a copy of app data",
    );
    expect((await notesStatus(asker)).data?.holder?.epoch).toBe(epoch as number);
    // The holder gone, the standby takes over from its repaired copy: every note there.
    await killDevice(holder);
    await waitFor(
      "the standby to take over",
      async () => {
        const s = await notesStatus(asker);
        return s.state === "running" && s.device === standby ? s : undefined;
      },
      30_000,
    );
    expect(await notes(standby)).toEqual(written);
    daemons.set(holder, await startDaemon(home(holder), FAST));
  }, 90_000);
});

describe("a standby's copy damaged, and the holder gone before it was read back", () => {
  // A zone of two, so that the standby's is the only copy there is.
  let pair: Map<string, Daemon>;
  const two = notesApp(() => pair);
  const homeOf = (name: string) => (pair.get(name) as Daemon).home;

  test("the app is not started on it, the zone says why; the holder back, the copy is fetched again", async () => {
    pair = await startZone(["one", "two"], FAST);
    const holder = await two.install(NOTES, "one");
    const standby = holder === "one" ? "two" : "one";
    await two.write(holder, "before the damage");
    await two.settled(standby, holder);
    // Damaged while the standby is down; back, it reads its copy back only in an hour.
    expect(await (pair.get(standby) as Daemon).stop()).toBe(0);
    const blob = damageBiggestBlob(homeOf(standby));
    pair.set(
      standby,
      await startDaemon(homeOf(standby), { ...FAST, BUCKY_REPLICA_VERIFY_EVERY_MS: "3600000" }),
    );
    await two.settled(standby, holder);
    await two.killDevice(holder);
    const refused = await waitFor(
      "the damaged copy refused, as the zone says",
      async () => {
        const s = await two.status(standby);
        return (s.data?.standbys.find((x) => x.device === standby)?.damagedBlobs ?? 0) > 0
          ? s
          : undefined;
      },
      30_000,
    );
    expect(refused.state === "running" && refused.device === standby).toBe(false);
    expect(existsSync(join(homeOf(standby), "apps", "notes", "data", "db"))).toBe(false);
    expect((pair.get(standby) as Daemon).log()).toContain("the app is not taken over from it");
    // The holder back, the standby fetches what was damaged again from it.
    pair.set(holder, await startDaemon(homeOf(holder), FAST));
    await waitFor(
      "the copy whole again",
      async () => {
        const s = await two.status(standby);
        const copy = s.data?.standbys.find((x) => x.device === standby);
        return s.device === holder && copy?.damagedBlobs === 0 && intactBlob(homeOf(standby), blob)
          ? s
          : undefined;
      },
      30_000,
    );
  }, 120_000);
});
