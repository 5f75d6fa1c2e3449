/**
 * App data at the worst moments, with real daemons and the notes app's real SQLite files,
 * each asked from a device other than the one that acted: a holder restarted with its data
 * unchanged; a move whose target stopped holding its last snapshot, and one whose holder
 * then went on and died; a replica damaged on a standby's disk and on the holder's; a
 * standby killed while it fetched a snapshot.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import type { DeviceView } from "../lib/zone/devices.ts";
import { buckyJson, cleanUp, type Daemon, startDaemon, startZone, waitFor } from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
/** A live window of 3 s (three heartbeats): a daemon restarted in well under it keeps its apps. */
const LIVE_WINDOW_MS = 3_000;
const ENV = {
  BUCKY_HEARTBEAT_MS: String(LIVE_WINDOW_MS / 3),
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

/** Random, so no chunk of it is one the standby has: fetched over some hundreds of ms. */
const LARGE_BYTES = 48 * 1024 * 1024;

interface ZoneStatus {
  readonly reliability: { readonly notes: readonly { kind: string; device?: string }[] };
}

let daemons: Map<string, Daemon>;
const { home, status, notes, write, settled, install, killDevice } = notesApp(() => daemons);
let holder = "";
let standby = "";

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta"], ENV);
  holder = await install(NOTES, "alpha");
  standby = holder === "alpha" ? "beta" : "alpha";
}, 60_000);

describe("the holder restarted with its data unchanged", () => {
  test("every device still says the standby has the copy it has", async () => {
    await write(holder, "before the restart");
    const before = await settled(standby, holder);
    const restarted = daemons.get(holder) as Daemon;
    expect(await restarted.stop()).toBe(0);
    daemons.set(holder, await startDaemon(home(holder), ENV));
    // The holder keeps the app (it was back within the live window), and learns again
    // where its standby is, though nothing new was written for it to fetch.
    const after = await settled(standby, holder);
    expect(after.data?.holder?.epoch).toBe(before.data?.holder?.epoch as number);
    expect(after.data?.standbys).toEqual([
      {
        device: standby,
        snapshotAt: expect.any(String),
        lagMs: 0,
        lagBytes: 0,
        verifiedAt: expect.any(String),
        damagedBlobs: 0,
      },
    ]);
    const zone = await buckyJson<ZoneStatus>(["status", "--home", home(standby)]);
    expect(zone.reliability.notes.filter((note) => note.kind === "no-copy-yet")).toEqual([]);
  }, 60_000);
});

describe("a move whose target died between its last snapshot and taking the app", () => {
  test("back, the target does not start from that snapshot once the holder wrote past it", async () => {
    await write(holder, "before the move");
    await settled(standby, holder);
    const before = await notes(holder);
    // The standby stops holding the move's last snapshot, before it claimed the app (as if
    // the move had reached it just then; a laptop's lid closed).
    await (daemons.get(standby) as Daemon).stop();
    markNewestCopyFinal(home(standby));
    // The move goes on without it: the holder, finding it gone, runs the app, and is
    // written to.
    await moveToStoppedStandby();
    // Read before the write: a snapshot taken while its answer was on the way holds it, dated
    // before the answer came, and the next finds nothing new to take. (One begun as the
    // write was sent may not hold it; nothing below needs it to: the move's last snapshot does.)
    const writtenAt = Date.now();
    await write(holder, "while the target was away");
    await waitFor("a snapshot of the holder's since the write was sent", async () => {
      const s = await status(holder);
      return Date.parse(s.data?.holder?.snapshotAt ?? "") >= writtenAt ? s : undefined;
    });
    daemons.set(standby, await startDaemon(home(standby), ENV));
    // The move ends with the write on the target: nothing lost, no conflict copy.
    const moved = await settled(holder, standby, 30_000);
    expect(moved.data?.holder?.epoch).toBe(2);
    expect(moved.data?.holder?.lostAtMostMs).toBe(0);
    expect(moved.data?.conflicts).toEqual([]);
    expect(await notes(holder)).toEqual([...before, "while the target was away"]);
    [holder, standby] = [standby, holder];
  }, 90_000);
});

describe("a standby killed while it fetches a snapshot", () => {
  test("keeps its last whole copy, and takes the app over from it, never from a half one", async () => {
    await settle();
    await write(holder, "the last note the standby has whole");
    await settled(standby, holder);
    const whole = await notes(holder);
    // A file large enough that fetching it takes a while, put beside the app's database.
    writeFileSync(
      join(home(holder), "apps", "notes", "data", "db", "large.bin"),
      randomBytes(LARGE_BYTES),
    );
    const replica = join(home(standby), "replicas", "notes", "replica.db");
    const headBefore = replicaHead(replica);
    // Blobs it committed, not its files' sizes: its log is written from its start again at
    // each checkpoint, and its file reuses the pages of blobs dropped earlier.
    const blobsBefore = replicaBlobs(replica);
    await waitFor(
      "the standby to be fetching",
      async () => (replicaBlobs(replica) > blobsBefore + 1 ? true : undefined),
      // The holder reads and hashes 48 MiB before the standby can fetch any: on a loaded
      // machine (two cores shared with other suites) that took longer than 20 s.
      60_000,
    );
    await killDevice(standby);
    expect(replicaHead(replica)).toEqual(headBefore);
    // With the holder gone too, the standby back takes the app over from its whole copy.
    await killDevice(holder);
    daemons.set(standby, await startDaemon(home(standby), ENV));
    await takenOverBy(standby);
    expect(await notes(standby)).toEqual(whole);
    expect(existsSync(join(home(standby), "apps", "notes", "data", "db", "large.bin"))).toBe(false);
    daemons.set(holder, await startDaemon(home(holder), ENV));
  }, 150_000);
});

/** The id of `device`, as the zone knows it. */
async function deviceId(device: string): Promise<string> {
  const { devices } = await buckyJson<{ devices: DeviceView[] }>([
    "devices",
    "--home",
    home(device),
  ]);
  return devices.find((d) => d.name === device)?.id as string;
}

/** When the daemon of `home` (stopped) last heard `device` alive, by that device's clock. */
function lastHeard(home: string, device: string): number {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    const row = db
      .query<{ at: number }, [string]>("SELECT at FROM presence WHERE device = ?1")
      .get(device);
    expect(row).not.toBeNull();
    return row?.at as number;
  } finally {
    db.close();
  }
}

/** The head of a replica database, read beside its daemon (or with none). */
function replicaHead(path: string): unknown {
  const db = new Database(path, { readonly: true });
  try {
    return db.query<{ head: string }, []>("SELECT head FROM head").get()?.head;
  } finally {
    db.close();
  }
}

/** How many blobs a replica database holds, read beside its daemon. */
function replicaBlobs(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM blobs").get()?.n ?? 0;
  } finally {
    db.close();
  }
}

/**
 * Waits until the app runs with its standby caught up, wherever it runs now (a device it
 * was moved to draws it back once live again), and names the two.
 */
/** The app's status once `device` runs it, having taken it over (30 s at most). */
function takenOverBy(device: string): Promise<AppStatus> {
  return waitFor(
    `${device} to take the app over`,
    async () => {
      const s = await status(device);
      return s.state === "running" && s.device === device ? s : undefined;
    },
    30_000,
  );
}

async function settle(): Promise<void> {
  const running = await waitFor(
    "notes running with a standby caught up",
    async () => {
      const s = await status("alpha").catch(() => undefined);
      const standbys = s?.data?.standbys ?? [];
      return s?.state === "running" &&
        s.device &&
        s.data?.holder?.device === s.device &&
        standbys.length > 0 &&
        standbys.every((x) => x.lagMs === 0)
        ? s
        : undefined;
    },
    30_000,
  );
  holder = running.device as string;
  standby = holder === "alpha" ? "beta" : "alpha";
  await settled(standby, holder);
}

/**
 * `bucky app move` to the standby, stopped, once the holder has not heard from it for a live
 * window (nor its presence, nor a call: what the holder's apps are placed by): the move then
 * waits for it, and the app runs on where it is.
 */
async function moveToStoppedStandby(): Promise<void> {
  await untilHolderMissesStandby();
  await buckyJson(["app", "move", "notes", "--to", standby, "--no-wait", "--home", home(holder)]);
  const s = await status(holder);
  expect([s.state, s.device, s.data?.movingTo]).toEqual(["running", holder, standby]);
}

/** Waits until the holder has not heard from the standby (stopped) for a live window. */
async function untilHolderMissesStandby(): Promise<void> {
  await waitFor(
    "the holder not to have heard from the standby for a live window",
    async () => {
      const { devices } = await buckyJson<{ devices: DeviceView[] }>([
        "devices",
        "--home",
        home(holder),
      ]);
      const seen = devices.find((d) => d.name === standby)?.lastSeenAt;
      return seen && Date.now() - Date.parse(seen) > LIVE_WINDOW_MS ? true : undefined;
    },
    20_000,
  );
}

/** Marks a standby's copy as a move's last snapshot, as the holder sends it (its home's daemon stopped). */
function markNewestCopyFinal(home: string, options: { before?: number } = {}): void {
  const replica = new Database(join(home, "replicas", "notes", "replica.db"), { strict: true });
  try {
    const row = replica.query<{ head: string }, []>("SELECT head FROM head").get();
    expect(row).not.toBeNull();
    const held = JSON.parse(row?.head as string) as { at: number };
    const at = options.before === undefined ? held.at : Math.min(held.at, options.before - 1_000);
    const head = { ...held, at, final: true };
    replica.query("UPDATE head SET head = ?1").run(JSON.stringify(head));
  } finally {
    replica.close();
  }
}

describe("a standby whose copy is damaged on its disk", () => {
  test("it keeps running, sets the damaged copy aside whole, and fetches the data again", async () => {
    await settle();
    await (daemons.get(standby) as Daemon).stop();
    const replica = join(home(standby), "replicas", "notes");
    for (const file of ["replica.db-wal", "replica.db-shm"])
      rmSync(join(replica, file), { force: true });
    const damage = "what a failing disk left of the copy\n".repeat(200);
    writeFileSync(join(replica, "replica.db"), damage);
    const restarted = await startDaemon(home(standby), ENV);
    daemons.set(standby, restarted);
    let exited = false;
    void restarted.exited.then(() => {
      exited = true;
    });
    await write(holder, "after the damage");
    await settled(standby, holder);
    expect(exited).toBe(false);
    const aside = readdirSync(replica).filter((name) => name.startsWith("damaged-"));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(replica, aside[0] as string, "replica.db"), "utf8")).toBe(damage);
  }, 60_000);
});

describe("the holder whose own replica is damaged on its disk", () => {
  test("starts it anew in a new epoch, so its standby fetches what it writes next, and takes over with it", async () => {
    await settle();
    await write(holder, "before the holder's damage");
    const before = await settled(standby, holder);
    await (daemons.get(holder) as Daemon).stop();
    const replica = join(home(holder), "replicas", "notes");
    for (const file of ["replica.db-wal", "replica.db-shm"])
      rmSync(join(replica, file), { force: true });
    writeFileSync(
      join(replica, "replica.db"),
      "what a failing disk left of the copy\n".repeat(200),
    );
    daemons.set(holder, await startDaemon(home(holder), ENV));
    // Its new epoch, claimed once the app runs again there (a report of it running from
    // before the restart says nothing of now).
    const epoch = (before.data?.holder?.epoch as number) + 1;
    await waitFor("the app running again, in a new epoch", async () => {
      const s = await status(standby);
      return s.state === "running" && s.device === holder && s.data?.holder?.epoch === epoch
        ? s
        : undefined;
    });
    await write(holder, "after the holder's damage");
    const after = await settled(standby, holder);
    expect(after.data?.holder?.epoch).toBe(epoch);
    const written = await notes(holder);
    // The standby has it: with the holder gone, it takes the app over with every note.
    await killDevice(holder);
    await takenOverBy(standby);
    expect(await notes(standby)).toEqual(written);
    daemons.set(holder, await startDaemon(home(holder), ENV));
  }, 90_000);
});

describe("a move's last snapshot, the holder then written to and gone", () => {
  test("the target takes the app over from it saying how much could be missing, not that nothing is", async () => {
    await settle();
    const holderId = await deviceId(holder);
    await (daemons.get(standby) as Daemon).stop();
    // The copy's time is before the holder was last heard (by a heartbeat after the
    // snapshot; a holder finding its data unchanged restamps its snapshot, and the last
    // heartbeat may have come before that): its writes since could be missing.
    markNewestCopyFinal(home(standby), { before: lastHeard(home(standby), holderId) });
    await moveToStoppedStandby();
    await write(holder, "written on the holder, then lost with it");
    await killDevice(holder);
    daemons.set(standby, await startDaemon(home(standby), ENV));
    const taken = await takenOverBy(standby);
    expect(await notes(standby)).not.toContain("written on the holder, then lost with it");
    // The holder was alive when the target went away, and wrote on: how long, the target
    // cannot know.
    expect(taken.data?.holder).toMatchObject({
      lostAtMostMs: null,
      lostUnknownReason: expect.stringContaining(
        "how long the holder went on writing is not known",
      ),
    });
    daemons.set(holder, await startDaemon(home(holder), ENV));
  }, 90_000);
});

describe("a standby away a while, the holder written to meanwhile, then killed", () => {
  test("the standby takes over saying how much could be missing is not known, not a false at most; every device says so", async () => {
    await settle();
    await (daemons.get(standby) as Daemon).kill();
    await untilHolderMissesStandby();
    const writtenAt = Date.now(); // before: a snapshot taken as the write is answered holds it
    await write(holder, "written while the standby was away");
    await waitFor("a snapshot of the holder's since the write was sent", async () => {
      const s = await status(holder);
      return Date.parse(s.data?.holder?.snapshotAt ?? "") >= writtenAt ? s : undefined;
    });
    await killDevice(holder);
    daemons.set(standby, await startDaemon(home(standby), ENV));
    const taken = await takenOverBy(standby);
    expect(await notes(standby)).not.toContain("written while the standby was away");
    expect(taken.data?.holder).toMatchObject({
      device: standby,
      lostAtMostMs: null,
      lostUnknownReason: expect.stringMatching(
        /^this device was away from .* and last heard the holder alive at .*: how long the holder went on writing is not known$/,
      ),
    });
    expect((daemons.get(standby) as Daemon).log()).toMatch(/app taken over.*lost=unknown/);
    // The old holder, back, says the same of it.
    daemons.set(holder, await startDaemon(home(holder), ENV));
    const seen = await waitFor("the old holder to see the takeover", async () => {
      const s = await status(holder);
      return s.data?.holder?.device === standby ? s : undefined;
    });
    expect(seen.data?.holder).toMatchObject({
      lostAtMostMs: null,
      lostUnknownReason: taken.data?.holder?.lostUnknownReason,
    });
  }, 90_000);
});

describe("a standby asleep a while (paused), the holder written to meanwhile, then killed", () => {
  test("the standby, woken, takes over saying how much could be missing is not known", async () => {
    await settle();
    const sleeper = daemons.get(standby) as Daemon;
    process.kill(sleeper.pid, "SIGSTOP");
    try {
      await untilHolderMissesStandby();
      const writtenAt = Date.now(); // before: a snapshot taken as the write is answered holds it
      await write(holder, "written while the standby slept");
      await waitFor("a snapshot of the holder's since the write was sent", async () => {
        const s = await status(holder);
        return Date.parse(s.data?.holder?.snapshotAt ?? "") >= writtenAt ? s : undefined;
      });
      await killDevice(holder);
    } finally {
      process.kill(sleeper.pid, "SIGCONT");
    }
    const taken = await takenOverBy(standby);
    expect(await notes(standby)).not.toContain("written while the standby slept");
    expect(taken.data?.holder).toMatchObject({
      device: standby,
      lostAtMostMs: null,
      lostUnknownReason: expect.stringContaining(
        "how long the holder went on writing is not known",
      ),
    });
    daemons.set(holder, await startDaemon(home(holder), ENV));
  }, 90_000);
});
