/**
 * A standby back from offline as its holder dies. The app keeps one standby; while the
 * first went offline, the third device took its place and copied all the holder wrote.
 * The first came back and, ranked first, was its standby again, the third letting go of
 * following; the holder died before the first had caught up. The third device, whose copy
 * is the newest, takes the app over, alone: before, the zone heard of the third's copy
 * only while it followed, so the first took the app over from its old copy as the third
 * did from its own, both in the same epoch, and the old copy won (what the third held
 * became a conflict copy). Asked from both.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { AppStatus } from "../lib/apps/status.ts";
import { cleanUp, type Daemon, startDaemon, startZone, waitFor } from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
const ENV = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};
/** Random, so fetching it takes the first standby a while once it is back. */
const LARGE_BYTES = 48 * 1024 * 1024;

let daemons: Map<string, Daemon>;
const { home, status, notes, write, settled, install, killDevice } = notesApp(() => daemons);

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], ENV);
}, 60_000);

describe("a standby back from offline, ranked first again, as the holder dies before it caught up", () => {
  test("the device with the newest copy takes the app over, alone: nothing lost", async () => {
    const holder = await install(NOTES, "alpha");
    await write(holder, "before");
    const first = (await settled(holder, holder)).data?.standbys[0]?.device as string;
    const third = ["alpha", "beta", "gamma"].find((d) => d !== holder && d !== first) as string;

    await (daemons.get(first) as Daemon).kill();
    writeFileSync(
      join(home(holder), "apps", "notes", "data", "db", "large.bin"),
      randomBytes(LARGE_BYTES),
    );
    await write(holder, "while the first standby was away");
    const took = await settled(holder, holder, 60_000);
    expect(took.data?.standbys.map((s) => s.device)).toEqual([third]);

    daemons.set(first, await startDaemon(home(first), ENV));
    const back = daemons.get(first) as Daemon;
    await waitFor(`${holder} to have ${first} as its standby again`, async () => {
      const s = await status(holder);
      return s.data?.standbys[0]?.device === first ? true : undefined;
    });
    // Before it has fetched the holder's newest: the holder dies.
    process.kill(back.pid, "SIGSTOP");
    try {
      await killDevice(holder);
    } finally {
      process.kill(back.pid, "SIGCONT");
    }

    const said = await waitFor(
      `${first} and ${third} to say notes runs again, on the same device`,
      async () => {
        const both = await Promise.all([first, third].map(status));
        const [a, b] = both as [AppStatus, AppStatus];
        return a.state === "running" &&
          a.data?.holder?.device !== holder &&
          a.data?.holder?.device === b.data?.holder?.device &&
          a.data?.holder?.epoch === b.data?.holder?.epoch
          ? a
          : undefined;
      },
      45_000,
    );
    // The third, unless the first fetched it all before it was paused: either holds it all.
    expect(await notes(first)).toEqual(["before", "while the first standby was away"]);
    expect(said.data?.conflicts).toEqual([]);
    const takeovers = [first, third].flatMap(
      (d) => (daemons.get(d) as Daemon).log().match(/app taken over/g) ?? [],
    );
    expect(takeovers).toHaveLength(1);
  }, 150_000);
});
