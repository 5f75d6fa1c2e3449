/**
 * A move written while the holder is dead, to a device whose copy is behind another's. The
 * holder wrote a note while that device slept (paused); the other standby took it; the
 * holder died; the owner moved the app to the device that slept. It takes the app over from
 * the newest copy (the other standby's), then moves on to the device asked for: the note
 * is there. Before, the device moved to took the app over from its own older copy and the
 * note was lost, though a live device held it. Asked from the standby that was ahead.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  scratchDir,
  startZone,
  waitFor,
} from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

/** Devices count as gone after three missed heartbeats of 1.5 s: time to write the move. */
const FAST = {
  BUCKY_HEARTBEAT_MS: "1500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

let daemons: Map<string, Daemon>;
const { home, status, notes, write, settled, install, killDevice } = notesApp(() => daemons);

/** The notes fixture with two standbys: each of the other two devices keeps a copy. */
function notesWithTwoStandbys(): string {
  const dir = join(scratchDir(), "notes");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), dir, { recursive: true });
  const manifest = join(dir, "bucky-app.json");
  writeFileSync(
    manifest,
    JSON.stringify({ ...JSON.parse(readFileSync(manifest, "utf8")), standbys: 2 }),
  );
  return dir;
}

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], FAST);
}, 60_000);

describe("a move written while the holder is dead, to a device whose copy is behind", () => {
  test("takes the app over from the newest copy, then moves it on: nothing lost", async () => {
    const holder = await install(notesWithTwoStandbys(), "alpha");
    const [ahead, behind] = ["alpha", "beta", "gamma"].filter((name) => name !== holder) as [
      string,
      string,
    ];
    await write(holder, "before");
    const both = await settled(ahead, holder);
    expect(both.data?.standbys.map((s) => s.device).sort()).toEqual([ahead, behind].sort());
    const sleeper = daemons.get(behind) as Daemon;
    process.kill(sleeper.pid, "SIGSTOP");
    try {
      const writtenAt = Date.now(); // before: a snapshot taken as the write is answered holds it
      await write(holder, "written while one standby slept");
      await waitFor("the standby awake to hold the holder's snapshot since the write", async () => {
        const s = await status(ahead);
        const copy = s.data?.standbys.find((standby) => standby.device === ahead);
        return Date.parse(copy?.snapshotAt ?? "") >= writtenAt ? true : undefined;
      });
      await killDevice(holder);
    } finally {
      process.kill(sleeper.pid, "SIGCONT");
    }
    // Within the holder's live window: it still counts as alive, so no standby took over.
    await buckyJson(["app", "move", "notes", "--to", behind, "--no-wait", "--home", home(ahead)]);
    const moved = await waitFor(
      `notes running on ${behind}, holder of its data, as ${ahead} sees it`,
      async () => {
        const s = await status(ahead);
        return s.state === "running" && s.device === behind && s.data?.holder?.device === behind
          ? s
          : undefined;
      },
      45_000,
    );
    expect(moved.data?.holder?.device).toBe(behind);
    expect(await notes(ahead)).toEqual(
      expect.arrayContaining(["before", "written while one standby slept"]),
    );
    // The way there: the newest copy took it over first, then handed it on.
    expect((daemons.get(ahead) as Daemon).log()).toMatch(/app taken over app=notes/);
  }, 90_000);
});

describe("a move to a device that is offline", () => {
  test("is said at once to wait for it, not waited for two minutes in silence", async () => {
    const { device } = await status("alpha").catch(() => status("beta"));
    const on = device as string;
    const { devices } = await buckyJson<{ devices: { name: string; status: string }[] }>([
      ...["devices", "--home", home(on)],
    ]);
    const away = devices.find((d) => d.status === "offline")?.name as string;
    expect(away).toBeDefined();
    const moved = await bucky(["app", "move", "notes", "--to", away, "--home", home(on), "--json"]);
    expect(moved.exitCode).toBe(3);
    expect(JSON.parse(moved.stdout)).toMatchObject({ to: away, arrived: false, offline: true });
    const text = await bucky(["app", "move", "notes", "--to", away, "--home", home(on)]);
    expect(text.stdout).toContain(`${away} is offline: notes moves there once it is back`);
  }, 30_000);
});
