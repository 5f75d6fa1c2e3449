/**
 * The device holding an app's data (the NAS) is lost and its home restored on a new box
 * from its backup, while its standby (the laptop), away at that moment, holds a write made
 * after that backup. Back, the laptop's copy is not replaced unseen by the restored data's
 * snapshots: the NAS holds the data in a new epoch that says it came from the backup, and
 * the laptop keeps its newer copy as a conflict copy, with the write in it, listed on every
 * device. Before, the NAS numbered its snapshots from 1 again in the epoch it held, and
 * once past the laptop's number the laptop took one and dropped the write, with no word.
 */
import { Database } from "bun:sqlite";
import { afterAll, describe, expect, test } from "bun:test";
import { join, resolve } from "node:path";
import {
  buckyJson,
  cleanUp,
  type Daemon,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { hotKeys } from "./hot-keys.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

const daemons = new Map<string, Daemon>();
const { status, notes, write, settled, install, killDevice } = notesApp(() => daemons);

/** The notes a copy of the app's data holds (its SQLite file, read as it is). */
function notesIn(dataDir: string): string[] {
  const db = new Database(join(dataDir, "db", "notes.db"), { readonly: true });
  try {
    return (db.query("SELECT text FROM notes ORDER BY id").all() as { text: string }[]).map(
      (n) => n.text,
    );
  } finally {
    db.close();
  }
}

describe("the holder restored from its backup while its standby holds newer", () => {
  test("the standby keeps its newer copy as a conflict copy; the holder says its data came from the backup", async () => {
    const nasHome = newHomePath();
    const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
      ...["init", "--home", nasHome, "--device", "nas"],
    ]);
    daemons.set("nas", await startDaemon(nasHome, FAST));
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
    const laptopHome = newHomePath();
    await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
    daemons.set("laptop", await startDaemon(laptopHome, FAST));
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nasHome, "--no-backup"]);
    if ((await install(NOTES, "nas")) !== "nas")
      await buckyJson(["app", "move", "notes", "--to", "nas", "--home", nasHome]);
    await write("nas", "before the backup");
    await settled("laptop", "nas", 30_000);
    await buckyJson(["backup", "run", "--home", nasHome]);
    await write("nas", "after the backup");
    await settled("laptop", "nas", 30_000);

    // The laptop goes away, then the NAS is lost; what the laptop heard of it is shipped.
    await killDevice("laptop");
    await buckyJson(["state", "set", "after/laptop-away", "true", "--home", nasHome]);
    await waitFor("the NAS's changes to be shipped hot", async () =>
      (await hotKeys(repo, nasHome)).includes("after/laptop-away") ? true : undefined,
    );
    await killDevice("nas");

    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--device", "newbox", "--home", fresh], {
      stdin: `${recoveryPhrase}\n`,
    });
    const restored = await buckyJson<{ device: string }>([
      ...["backup", "restore", "latest", "--from", repo, "--home", fresh],
    ]);
    expect(restored.device).toBe("nas");
    daemons.set("nas", await startDaemon(fresh, FAST));
    const anew = await waitFor("the NAS to hold the app in an epoch of its own", async () => {
      const s = await status("nas");
      return s.state === "running" && s.data?.holder?.lostUnknownReason ? s : undefined;
    });
    expect(anew.data?.holder).toMatchObject({
      device: "nas",
      lostAtMostMs: null,
      lostUnknownReason: expect.stringMatching(/^its data came back from a backup taken /),
    });
    expect(await notes("nas")).toEqual(["before the backup"]);

    // The laptop back: its copy, newer than the backup, is kept; every device says so.
    daemons.set("laptop", await startDaemon(laptopHome, FAST));
    const kept = await waitFor(
      "the laptop's newer copy kept as a conflict copy, as the NAS sees it",
      async () => {
        const s = await status("nas");
        return s.data?.conflicts.find((copy) => copy.device === "laptop");
      },
      45_000,
    );
    expect(notesIn(join(laptopHome, "apps", "notes", "conflicts", kept.name))).toEqual([
      "before the backup",
      "after the backup",
    ]);
    // And the laptop follows the NAS's data as it is now.
    await settled("laptop", "nas", 30_000);
    expect((daemons.get("laptop") as Daemon).log()).toMatch(/kept a conflict copy of app data/);
  }, 180_000);
});
