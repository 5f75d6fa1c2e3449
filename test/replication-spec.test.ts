/**
 * An app's replication follows its spec, zone-wide, with real daemons: when the spec is
 * garbled by a member, deleted, or says removed, the holder stops snapshotting and every
 * standby stops following, on every device alike and with the device that acted stopped;
 * no copy of the data goes (each stays a leftover `bucky status --disk` shows); a readable
 * spec written back starts them again, the holder killed meanwhile included. Every check
 * is made from a device other than the one that acted. A purge (the owner's) deletes every copy and every
 * claim to hold the data, the holder's as it starts again if it was down, and installing
 * the app again waits for that: it starts clean, at a first epoch.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { ReplicaFacts } from "../lib/facts/payload.ts";
import { requestDaemon } from "../lib/node/daemon-client.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  startDaemon,
  startZone,
  waitFor,
} from "./harness.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");
const SPEC = "users/owner/apps/notes/spec";
const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};

let daemons: Map<string, Daemon>;
let holder = "";
let standby = "";
/** The third device: it acts (garbles, removes), the others are checked. */
let actor = "";
/** The spec as the owner's install wrote it (its value, parsed). */
let spec: unknown;

const { home, status, notes, write, settled, killDevice } = notesApp(() => daemons);

/** What a device's daemon says it does itself for each app: holds (snapshots), follows. */
function replicas(on: string): Promise<ReplicaFacts> {
  return requestDaemon<ReplicaFacts>(home(on), "GET", "/v1/replicas");
}

/** Neither the holder snapshots nor the standby follows the app any more. */
function replicationStopped(what: string): Promise<true> {
  return waitFor(
    `${holder} to stop snapshotting notes and ${standby} to stop following it (${what})`,
    async () => {
      const [held, followed] = await Promise.all([replicas(holder), replicas(standby)]);
      return !("notes" in held.held) && !("notes" in followed.copies) ? true : undefined;
    },
    20_000,
  );
}

/** What `on` measures of its own disk now: its leftovers' words. */
async function ownLeftovers(on: string): Promise<string[]> {
  const s = await buckyJson<{
    disk: { device: string; usage: { leftovers: { what: string }[] } | null }[];
  }>(["status", "--disk", "--home", home(on)]);
  return s.disk.find((d) => d.device === on)?.usage?.leftovers.map((l) => l.what) ?? [];
}

/** The claims to hold notes's data in the zone state, as `on` has it. */
async function claims(on: string): Promise<string[]> {
  const { entries } = await buckyJson<{ entries: { key: string; value: unknown }[] }>([
    "state",
    "list",
    "nodes/",
    "--home",
    home(on),
  ]);
  return entries
    .filter((entry) => /^nodes\/[^/]+\/holds\/notes$/.test(entry.key) && entry.value !== null)
    .map((entry) => entry.key);
}

/**
 * Puts the owner key on `on` as well, as an owner may keep it on a second device, and starts
 * its daemon again (it reads whether it holds the key as it starts).
 */
async function holdOwnerKey(on: string): Promise<void> {
  const ownerKey = (name: string) => join(home(name), "identity", "owner.key");
  if (existsSync(ownerKey(on))) return;
  const founder = ["alpha", "beta", "gamma"].find((name) => existsSync(ownerKey(name))) as string;
  copyFileSync(ownerKey(founder), ownerKey(on));
  await (daemons.get(on) as Daemon).stop();
  daemons.set(on, await startDaemon(home(on), FAST));
}

/** The holder's data and the standby's copy are still there, whole. */
function everyCopyKept(): void {
  expect(existsSync(join(home(holder), "apps", "notes", "data", "db"))).toBe(true);
  expect(existsSync(join(home(standby), "replicas", "notes", "replica.db"))).toBe(true);
}

beforeAll(async () => {
  daemons = await startZone(["alpha", "beta", "gamma"], FAST);
  await buckyJson(["app", "install", NOTES, "--home", home("alpha")]);
  const running = await waitFor(
    "notes running with a standby",
    async () => {
      const s = await status("alpha");
      return s.state === "running" && s.data?.holder && s.data.standbys.length > 0 ? s : undefined;
    },
    30_000,
  );
  holder = running.data?.holder?.device as string;
  standby = running.data?.standbys[0]?.device as string;
  actor = ["alpha", "beta", "gamma"].find((d) => d !== holder && d !== standby) as string;
  spec = (await buckyJson<{ value: unknown }>(["state", "get", SPEC, "--home", home(actor)])).value;
}, 90_000);

describe("an app's replication follows its spec", () => {
  test("a spec a member garbles stops the holder's snapshots and the standby's following; every copy stays, a leftover", async () => {
    await write(holder, "first");
    await settled(standby, holder);
    await buckyJson(["state", "set", SPEC, "5", "--home", home(actor)]);
    // Both others have the member's write; then the device that wrote it stops.
    for (const on of [holder, standby])
      await waitFor(`${on} to have the garbled spec`, async () => {
        const s = await buckyJson<{ unreadableApps: { app: string }[] }>([
          "status",
          "--home",
          home(on),
        ]);
        return s.unreadableApps.some((a) => a.app === "notes") ? true : undefined;
      });
    await (daemons.get(actor) as Daemon).stop();
    await replicationStopped("its spec unreadable");
    everyCopyKept();
    for (const on of [holder, standby])
      expect((await ownLeftovers(on)).filter((what) => what.includes("notes"))).toEqual([
        "the data of notes, whose spec in the zone state bucky cannot read",
      ]);
  }, 60_000);

  test("the holder removing the unreadable spec deletes nothing; with it killed, the spec written back readable, the standby takes over with its copy", async () => {
    // The holder acts this time, and is killed once the standby has its removal.
    await buckyJson(["app", "remove", "notes", "--home", home(holder)]);
    await waitFor("the standby to have the spec deleted", async () => {
      const s = await buckyJson<{ unreadableApps: { app: string }[] }>([
        "status",
        "--home",
        home(standby),
      ]);
      return s.unreadableApps.some((a) => a.app === "notes") ? undefined : true;
    });
    await killDevice(holder);
    expect((await replicas(standby)).copies).toEqual({});
    everyCopyKept();
    // Not waited for (the others are away): what is checked is that the standby takes over.
    await buckyJson([
      ...["state", "set", SPEC, JSON.stringify(spec), "--no-wait", "--home", home(standby)],
    ]);
    await waitFor(
      "the standby to take notes over",
      async () => {
        const s = await status(standby).catch(() => undefined);
        return s?.state === "running" && s.device === standby ? s : undefined;
      },
      30_000,
    );
    expect(await notes(standby)).toEqual(["first"]);
  }, 60_000);

  test("the devices back, a standby follows the new holder", async () => {
    daemons.set(holder, await startDaemon(home(holder), FAST));
    daemons.set(actor, await startDaemon(home(actor), FAST));
    holder = standby;
    await write(holder, "second");
    const s = await settled(holder, holder);
    expect(s.data?.holder?.epoch).toBe(2);
    // Its standby now (the old holder or the third device) is found, and the other acts.
    standby = s.data?.standbys[0]?.device as string;
    actor = ["alpha", "beta", "gamma"].find((d) => d !== holder && d !== standby) as string;
    await settled(actor, holder);
  }, 60_000);

  test("bucky app remove stops them and keeps every copy; installed again, it goes on with its data", async () => {
    await buckyJson(["app", "remove", "notes", "--home", home(actor)]);
    await replicationStopped("removed");
    everyCopyKept();
    expect((await ownLeftovers(standby)).filter((what) => what.includes("notes"))).toEqual([
      "the data of notes, removed without --purge",
    ]);
    await buckyJson(["app", "install", NOTES, "--home", home("alpha")]);
    // Running again where its data is, and shipping what it writes to the standby.
    const before = await waitFor("notes answering on its holder again", async () =>
      // Not installed, as far as the actor knows, until the install reaches it.
      (await status(actor).catch(() => undefined))?.device === holder
        ? notes(holder).catch((): undefined => undefined)
        : undefined,
    );
    expect(before).toEqual(["first", "second"]);
    await write(holder, "third");
    const s = await settled(actor, holder);
    expect(s.data?.standbys.map((x) => x.device)).toEqual([standby]);
    expect(s.data?.holder?.epoch).toBe(2);
  }, 60_000);

  test("bucky app remove --purge with the holder down: the rest purge at once; installing again waits for the holder, which purges as it starts", async () => {
    // Only the owner purges (test/purge.test.ts): the actor holds the owner key too.
    await holdOwnerKey(actor);
    await (daemons.get(holder) as Daemon).stop();
    await buckyJson(["app", "remove", "notes", "--purge", "--home", home(actor)]);
    await waitFor("the standby's copy of notes gone", () =>
      existsSync(join(home(standby), "replicas", "notes")) ? undefined : true,
    );
    expect(existsSync(join(home(actor), "replicas", "notes"))).toBe(false);
    // The holder has not purged: the app installed again would go on from its data. (The
    // standby is named too until this device has heard that it purged.)
    const refused = await waitFor("the install refused for the holder alone", async () => {
      const installed = await bucky(["app", "install", NOTES, "--json", "--home", home(actor)]);
      expect(installed.exitCode).toBe(3);
      const error = jsonError(installed);
      return error.message.includes(standby) ? undefined : error;
    });
    expect(refused).toEqual({
      code: "E_UNAVAILABLE",
      message: `notes was removed with --purge, and ${holder} has not deleted its data yet`,
      hint: `Start bucky on ${holder} and install notes again once the purge is done there (a moment); a device gone for good: revoke it first (\`bucky devices revoke <device>\`).`,
    });
    daemons.set(holder, await startDaemon(home(holder), FAST));
    await waitFor("the holder's data of notes gone", () =>
      existsSync(join(home(holder), "apps", "notes", "data")) ? undefined : true,
    );
    // No device claims any more to hold data it no longer has, as every device sees it.
    for (const on of [holder, standby, actor])
      await waitFor(`${on} to see no claim to hold notes's data`, async () =>
        (await claims(on)).length === 0 ? true : undefined,
      );
    // What the holder keeps of it is said as what it is: not data a purge would delete.
    expect((await ownLeftovers(holder)).filter((what) => what.includes("notes"))).toEqual([
      "the log and the sandbox of notes, removed with --purge",
    ]);
  }, 60_000);

  test("installed again after the purge, it starts clean: a first epoch, none of the old data", async () => {
    // Accepted once this device has heard that every other has done its part.
    await waitFor("the install to be accepted", async () => {
      const installed = await bucky(["app", "install", NOTES, "--json", "--home", home(actor)]);
      if (installed.exitCode === 0) return true;
      expect(jsonError(installed).code).toBe("E_UNAVAILABLE");
      return undefined;
    });
    const s = await waitFor(
      "notes running again, holder of its data",
      async () => {
        const s = await status(actor).catch(() => undefined);
        return s?.state === "running" && s.data?.holder ? s : undefined;
      },
      30_000,
    );
    expect(s.data?.holder?.epoch).toBe(1);
    expect(await notes(actor)).toEqual([]);
  }, 60_000);
});
