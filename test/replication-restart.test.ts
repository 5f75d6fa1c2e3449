/**
 * App data across restarts and deaths, asked from a device other than the one that acted:
 * real daemons, the notes app's real SQLite files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { buckyJson, cleanUp, type Daemon, startDaemon, startZone, waitFor } from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
/** A live window of 3 s: a daemon restarted in well under it keeps its apps. */
const ENV = {
  BUCKY_HEARTBEAT_MS: "1000",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

interface ZoneStatus {
  readonly reliability: { readonly notes: readonly { kind: string; device?: string }[] };
}

let daemons: Map<string, Daemon>;
const { home, status, write, settled } = notesApp(() => daemons);
let holder = "";
let standby = "";

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta"], ENV);
  await buckyJson(["app", "install", NOTES, "--home", home("alpha")]);
  const running = await waitFor("notes running", async () => {
    const s = await status("alpha");
    return s.state === "running" && s.device ? s : undefined;
  });
  holder = running.device as string;
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
      { device: standby, snapshotAt: expect.any(String), lagMs: 0, lagBytes: 0 },
    ]);
    const zone = await buckyJson<ZoneStatus>(["status", "--home", home(standby)]);
    expect(zone.reliability.notes.filter((note) => note.kind === "no-copy-yet")).toEqual([]);
  }, 60_000);
});
