/**
 * App data that follows its app, with real daemons: the device holding the notes app
 * ships its data to a standby; SIGKILL the holder under writes, and the standby serves
 * the notes it had (saying how much could be missing); the old holder comes back as a
 * standby; a planned move and a drain lose nothing; writes that never shipped are kept
 * as a conflict copy that `bucky app restore-copy` brings back. Every check is made from
 * a device other than the one that acted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { DrainProgress } from "../lib/replica/drain.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
/** Devices count as gone after three missed half-second heartbeats. */
const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

let daemons: Map<string, Daemon>;

const { home, status, notes, write, settled, install, killDevice } = notesApp(() => daemons);

let holder = "";
let standby = "";

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta"], FAST);
  holder = await install(NOTES, "alpha");
  standby = holder === "alpha" ? "beta" : "alpha";
}, 60_000);

describe("app data on two devices", () => {
  test("the holder ships its data to the standby, which says how far behind it is", async () => {
    await write(holder, "first");
    await write(holder, "second");
    const s = await settled(standby, holder);
    expect(s.data?.holder).toMatchObject({ device: holder, epoch: 1, lostAtMostMs: null });
    expect(s.data?.standbys).toEqual([
      expect.objectContaining({ device: standby, lagMs: 0, lagBytes: 0 }),
    ]);
    // The standby keeps a copy, not a running app: the holder alone writes.
    expect(existsSync(join(home(standby), "replicas", "notes", "replica.db"))).toBe(true);
    expect(existsSync(join(home(standby), "apps", "notes", "data"))).toBe(false);
  });

  test("SIGKILL the holder after a quiet while: the standby serves the notes it had, and says at most the seconds since the holder last found its data unchanged", async () => {
    const writtenAt = Date.now();
    await write(holder, "third");
    await settled(standby, holder);
    // The holder looks every second, finds nothing changed, and says so in its facts.
    await waitFor(
      "the holder to say its snapshot holds every write until 10 s after the note",
      async () => {
        const s = await status(standby);
        return Date.parse(s.data?.holder?.snapshotAt ?? "") >= writtenAt + 10_000
          ? true
          : undefined;
      },
      30_000,
    );
    await killDevice(holder);
    const s = await waitFor(
      "the standby to take over",
      async () => {
        const now = await status(standby);
        return now.state === "running" && now.device === standby ? now : undefined;
      },
      30_000,
    );
    expect(s.data?.holder).toMatchObject({ device: standby, epoch: 2 });
    // Before: from the note on (an app idle a day was said to have lost at most a day).
    expect(s.data?.holder?.lostAtMostMs).toBeLessThan(10_000);
    expect(await notes(standby)).toEqual(["first", "second", "third"]);
  }, 60_000);

  test("the old holder comes back as the standby, and follows the new holder", async () => {
    // The roles swap now: a failure below is this case's alone, not the cases' after it.
    const [back, taken] = [holder, standby];
    [holder, standby] = [standby, holder];
    daemons.set(back, await startDaemon(home(back), FAST));
    await write(taken, "fourth");
    const s = await settled(back, taken, 30_000);
    expect(s.data?.standbys.map((x) => x.device)).toEqual([back]);
    expect(s.data?.conflicts).toEqual([]);
    // What it held and had shipped is gone from it: nothing of it was lost.
    expect(existsSync(join(home(back), "apps", "notes", "data"))).toBe(false);
  }, 60_000);

  test("a planned move stops the app, ships the last writes, and starts it there: nothing lost", async () => {
    const [from, to] = [holder, standby];
    await write(from, "just before the move");
    const moved = await buckyJson<{ arrived: boolean; heldElsewhere: string }>([
      "app",
      "move",
      "notes",
      "--to",
      to,
      "--home",
      home(from),
    ]);
    // The roles swap once it moved: a failure below is this case's alone.
    [holder, standby] = [to, from];
    // Asked once another device held the move: lost with the holder, it would not be made.
    expect([moved.arrived, moved.heldElsewhere]).toEqual([true, "held"]);
    // Said arrived, it answers there at once (the target's report of its run before its
    // kill said running, at an address where nothing answered: read from there, ECONNRESET).
    expect(await notes(from)).toEqual([
      "first",
      "second",
      "third",
      "fourth",
      "just before the move",
    ]);
    const s = await settled(from, to, 30_000);
    expect(s.data?.holder?.lostAtMostMs).toBe(0);
    expect(s.data?.conflicts).toEqual([]);
  }, 60_000);

  test("writes that never reached the new holder are kept as a conflict copy, and can be brought back", async () => {
    await settled(standby, holder);
    // The holder freezes (a partition, as far as the others can tell) and the standby takes over...
    const frozen = daemons.get(holder) as Daemon;
    process.kill(frozen.pid, "SIGSTOP");
    await waitFor(
      "the standby to take over",
      async () => {
        const now = await status(standby);
        return now.state === "running" && now.device === standby ? now : undefined;
      },
      30_000,
    );
    // ...while, on the frozen side, its app had written what no snapshot carried.
    writeFileSync(
      join(home(holder), "apps", "notes", "data", "db", "late.txt"),
      "written in the dark\n",
    );
    process.kill(frozen.pid, "SIGCONT");
    const s = await waitFor(
      "a conflict copy",
      async () => {
        const now = await status(standby);
        return now.data?.conflicts.length === 1 ? now : undefined;
      },
      30_000,
    );
    expect(s.data?.conflicts[0]).toMatchObject({ device: holder });
    const copy = join(
      home(holder),
      "apps",
      "notes",
      "conflicts",
      s.data?.conflicts[0]?.name as string,
    );
    expect(readFileSync(join(copy, "db", "late.txt"), "utf8")).toBe("written in the dark\n");

    // Asked from the other device, the copy comes back, and what it replaces is kept.
    const name = s.data?.conflicts[0]?.name as string;
    const restored = await buckyJson<{ restored: boolean; device: string; heldElsewhere: string }>([
      "app",
      "restore-copy",
      "notes",
      name,
      "--home",
      home(standby),
    ]);
    expect(restored).toMatchObject({ restored: true, device: holder, heldElsewhere: "held" });
    expect(
      readFileSync(join(home(holder), "apps", "notes", "data", "db", "late.txt"), "utf8"),
    ).toBe("written in the dark\n");
    const after = await waitFor("the replaced data kept as a copy", async () => {
      const now = await status(standby);
      // Each device says its own copies: the replaced data's and the restored one's gone
      // may come from two devices, at different moments.
      const names = now.data?.conflicts.map((c) => c.name) ?? [];
      return names.some((n) => n !== name) && !names.includes(name) ? now : undefined;
    });
    expect(after.data?.conflicts.map((c) => c.name)).not.toContain(name);
  }, 90_000);

  test("draining the holder moves the app and its data off it, and says when nothing is left there", async () => {
    await settled(standby, holder, 30_000);
    await write(holder, "before the drain");
    await settled(standby, holder);
    // Both devices hold the owner key (the file `bucky zone owner-key` writes), so what
    // is left on the holder once the app moved is the conflict copies it keeps.
    for (const name of [holder, standby])
      if (!existsSync(join(home(name), "identity", "owner.key")))
        copyFileSync(
          join(home(standby === name ? holder : standby), "identity", "owner.key"),
          join(home(name), "identity", "owner.key"),
        );
    // What the tests before left on the holder, if anything, holds the drain back until it
    // is deleted there (test/drain.test.ts shows it of a copy alone). The holder had moved
    // back to it by itself before (its move's target outlived the move), replacing data that
    // restore-copy then kept there; now it keeps none, and the one replaced is the standby's.
    const kept = (await status(standby)).data?.conflicts.filter((c) => c.device === holder) ?? [];
    const result = await bucky(["devices", "drain", holder, "--json", "--home", home(standby)]);
    const drained = JSON.parse(result.stdout) as DrainProgress;
    expect(drained).toMatchObject({
      holds: [],
      runs: [],
      catchingUp: [],
      conflicts: kept.map((copy) => ({
        app: "notes",
        name: copy.name,
        at: copy.at,
        bytes: copy.bytes,
      })),
      done: kept.length === 0,
    });
    // Each copy deleted on purpose where it is kept, the drain is done.
    for (const copy of kept)
      await buckyJson(["app", "delete-copy", "notes", copy.name, "--yes", "--home", home(holder)]);
    await waitFor("the drain to be done", async () => {
      const now = await bucky(["devices", "drain", holder, "--json", "--home", home(standby)]);
      return now.exitCode === 0 && (JSON.parse(now.stdout) as DrainProgress).done
        ? true
        : undefined;
    });
    const s = await status(holder);
    expect([s.device, s.data?.holder?.device, s.data?.holder?.lostAtMostMs]).toEqual([
      standby,
      standby,
      0,
    ]);
    // Its app answers from there (once its restart, if any, is done).
    await waitFor("the notes on the new holder", async () =>
      (await notes(standby).catch((): string[] => [])).includes("before the drain")
        ? true
        : undefined,
    );
  }, 90_000);
});
