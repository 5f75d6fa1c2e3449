/**
 * Only the owner purges an app. `bucky app remove --purge` deletes the app's data on its
 * holder, every standby's copy and the conflict copies, on every device: a member without
 * the owner key is refused; a removal asking for a purge that a stolen member wrote into the
 * zone by hand deletes nothing (every device keeps its copy, and says so); the owner's purge
 * deletes every copy; and the owner's purge written again by a member against the app
 * installed since deletes nothing. Each is checked from a device other than the one that
 * acted, with that device killed. (alpha, which made the zone, holds the owner key.)
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { conflictCopyName } from "../protocol/replica.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  scratchDir,
  startDaemon,
  startZone,
  stateUnder,
  waitFor,
} from "./harness.ts";
import { actAs } from "./member.ts";
import { notesApp } from "./notes-app.ts";

afterAll(cleanUp);

const SPEC = "users/owner/apps/notes/spec";
const FAST = {
  BUCKY_HEARTBEAT_MS: "500",
  BUCKY_CONVERGE_INTERVAL_MS: "300",
  BUCKY_SYNC_INTERVAL_MS: "200",
};
const OWNER = "alpha";

let daemons: Map<string, Daemon>;
/** The notes app, keeping a copy of its data on two standbys: every device of three. */
let notesDir = "";
let holder = "";
/** The owner's removal with its purge, as the zone state held it. */
let ownersRemoval: Record<string, unknown> = {};

const { home, status, notes, write, settled, killDevice } = notesApp(() => daemons);

/** What `on` keeps of notes on its disk: its data, a standby's copy, conflict copies. */
function kept(on: string): { data: boolean; copy: boolean; conflicts: boolean } {
  return {
    data: existsSync(join(home(on), "apps", "notes", "data")),
    copy: existsSync(join(home(on), "replicas", "notes")),
    conflicts: existsSync(join(home(on), "apps", "notes", "conflicts")),
  };
}

/** Waits until `on` logs, after `from` characters of its log, a line matching `pattern`. */
function logged(on: string, from: number, pattern: RegExp): Promise<string> {
  return waitFor(
    `${on} to log ${pattern}`,
    () => (daemons.get(on) as Daemon).log().slice(from).match(pattern)?.[0],
  );
}

/** What a device says of a purge, deleting or refusing: whichever it does, it logs it. */
const PURGE_DECIDED = /app purge not authorised by the owner|app data (?:copy )?purged/;

/** bucky status's warnings about notes, as `on` computes them. */
async function notesWarnings(on: string): Promise<string[]> {
  const s = await buckyJson<{ warnings: string[] }>(["status", "--home", home(on)]);
  return s.warnings.filter((w) => w.startsWith("app notes "));
}

function ungranted(by: string): string {
  return `app notes was removed with --purge by ${by}, which the owner did not authorise: its data is kept on every device; to delete it, run \`bucky app remove notes --purge\` on the device holding the owner key`;
}

/** The spec of notes as `on` holds it now. */
async function specOn(on: string): Promise<Record<string, unknown>> {
  return (
    await buckyJson<{ value: Record<string, unknown> }>(["state", "get", SPEC, "--home", home(on)])
  ).value;
}

/** A conflict copy of notes kept on `on`, as replication keeps one. */
function plantConflictCopy(on: string): void {
  const dir = join(home(on), "apps", "notes", "conflicts");
  const name = conflictCopyName(Date.now(), on, 1);
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, "db"), "notes written on a device cut off");
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({ name, at: new Date().toISOString(), bytes: 33, epoch: 1 }),
  );
}

/** Installs notes from the owner's device and waits until it runs with a standby caught up. */
async function installed(): Promise<void> {
  await buckyJson(["app", "install", notesDir, "--home", home(OWNER)]);
  const running = await waitFor(
    "notes running with its standbys",
    async () => {
      const s = await status(OWNER).catch(() => undefined);
      return s?.state === "running" && s.data?.holder && s.data.standbys.length > 0 ? s : undefined;
    },
    30_000,
  );
  holder = running.data?.holder?.device as string;
}

beforeAll(async () => {
  daemons = await startZone([OWNER, "beta", "gamma"], FAST);
  notesDir = join(scratchDir(), "notes");
  cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), notesDir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(notesDir, "bucky-app.json"), "utf8"));
  writeFileSync(join(notesDir, "bucky-app.json"), JSON.stringify({ ...manifest, standbys: 2 }));
  await installed();
  await write(holder, "first");
  await settled(OWNER, holder);
}, 120_000);

describe("only the owner purges an app", () => {
  test("bucky app remove --purge on a member without the owner key is refused, and the app runs on", async () => {
    const member = holder === "beta" ? "gamma" : "beta";
    const refused = await bucky([
      "app",
      "remove",
      "notes",
      "--purge",
      "--json",
      "--home",
      home(member),
    ]);
    expect([refused.exitCode, jsonError(refused)]).toEqual([
      1,
      {
        code: "E_PERMISSION",
        message:
          "only the owner may purge notes (delete its data and every copy of it, on every device), and this device does not hold the owner key",
        hint: "Run `bucky app remove notes --purge` on the device holding the owner key, or `bucky app remove notes` without --purge here: the app is removed and its data kept.",
      },
    ]);
    expect((await specOn(member)).desired).toBe("running");
    expect(await notes(member)).toEqual(["first"]);
  }, 30_000);

  test("a purge a stolen member writes into the zone by hand deletes nothing on the other devices, and bucky status says so on each", async () => {
    // A member that neither holds the owner key nor runs the app: its daemon killed, its key
    // in the thief's hands.
    const stolen = ["beta", "gamma"].find((d) => d !== holder) as string;
    const others = [OWNER, "beta", "gamma"].filter((d) => d !== stolen);
    const spec = await specOn(OWNER);
    await killDevice(stolen);
    const from = new Map(others.map((on) => [on, (daemons.get(on) as Daemon).log().length]));
    const member = await actAs(home(stolen));
    const changeset = member.changeset([
      {
        key: SPEC,
        value: JSON.stringify({
          ...spec,
          desired: "removed",
          purge: true,
          updatedAt: new Date().toISOString(),
        }),
      },
    ]);
    const ack = await member.push(daemons.get(OWNER) as Daemon, [changeset.bytes]);
    expect([ack.applied, ack.rejected]).toEqual([1, 0]);
    for (const on of others) await logged(on, from.get(on) as number, PURGE_DECIDED);
    // The holder's data and the other standby's copy, whole.
    expect(others.map((on) => [on, on === holder ? kept(on).data : kept(on).copy])).toEqual(
      others.map((on) => [on, true]),
    );
    for (const on of others) {
      expect(await logged(on, from.get(on) as number, PURGE_DECIDED)).toBe(
        "app purge not authorised by the owner",
      );
      expect(await notesWarnings(on)).toEqual([ungranted(stolen)]);
    }
    // The owner revokes the stolen device, and installs the app again: it goes on with its data.
    await buckyJson(["devices", "revoke", stolen, "--home", home(OWNER)]);
    daemons.delete(stolen);
    await installed();
    expect(await notes(others.find((d) => d !== OWNER) as string)).toEqual(["first"]);
  }, 90_000);

  test("the owner's purge deletes the data, every copy and the conflict copies on every device, the owner's device killed once the others have it", async () => {
    const other = [...daemons.keys()].find((d) => d !== OWNER) as string;
    // Every copy whole: a note written, and each standby's copy of it.
    await write(holder, "second");
    await settled(other, holder);
    for (const on of [OWNER, other]) plantConflictCopy(on);
    // What it keeps in the zone state (the notes app says its latest note there), and the
    // owner's limits for it: its data too.
    await buckyJson(["app", "limit", "notes", "--rps", "7", "--home", home(OWNER)]);
    const state = await waitFor("notes's state on the other device", async () => {
      const found = await stateUnder(home(other), "apps/notes/");
      return Object.keys(found).length > 0 ? found : undefined;
    });
    expect(Object.keys(state)).toContain("apps/notes/latest");
    expect(await buckyJson(["app", "remove", "notes", "--purge", "--home", home(OWNER)])).toEqual({
      app: "notes",
      removed: true,
      purged: true,
      heldElsewhere: "held",
    });
    ownersRemoval = await waitFor(`${other} to have the owner's removal`, async () => {
      const spec = await specOn(other);
      return spec.desired === "removed" && spec.purge === true ? spec : undefined;
    });
    await killDevice(OWNER);
    const none = { data: false, copy: false, conflicts: false };
    await waitFor(`${other} to delete notes's data and copies`, () =>
      JSON.stringify(kept(other)) === JSON.stringify(none) ? true : undefined,
    );
    expect(await notesWarnings(other)).toEqual([]);
    expect(await stateUnder(home(other), "apps/notes/")).toEqual({});
    expect(await stateUnder(home(other), "users/owner/apps/notes/limits")).toEqual({});
    // The owner's device, started again, purges its own.
    daemons.set(OWNER, await startDaemon(home(OWNER), FAST));
    await waitFor(`${OWNER} to delete notes's data and copies`, () =>
      JSON.stringify(kept(OWNER)) === JSON.stringify(none) ? true : undefined,
    );
  }, 90_000);

  test("the owner's purge written again by a stolen member deletes nothing of the app installed since", async () => {
    await waitFor(
      "the install to be accepted once every device has purged",
      async () => {
        const result = await bucky(["app", "install", notesDir, "--json", "--home", home(OWNER)]);
        if (result.exitCode === 0) return true;
        expect(jsonError(result).code).toBe("E_UNAVAILABLE");
        return undefined;
      },
      20_000,
    );
    await installed();
    await write(holder, "after the purge");
    await settled(OWNER, holder);
    expect(await notes(OWNER)).toEqual(["after the purge"]);
    const stolen = [...daemons.keys()].find((d) => d !== OWNER) as string;
    await killDevice(stolen);
    const from = (daemons.get(OWNER) as Daemon).log().length;
    const member = await actAs(home(stolen));
    // Word for word the owner's removal: its grant, its time.
    const changeset = member.changeset([{ key: SPEC, value: JSON.stringify(ownersRemoval) }]);
    const ack = await member.push(daemons.get(OWNER) as Daemon, [changeset.bytes]);
    expect([ack.applied, ack.rejected]).toEqual([1, 0]);
    expect(await logged(OWNER, from, PURGE_DECIDED)).toBe("app purge not authorised by the owner");
    // Its data, or its copy as a standby (it may have taken the app over from the holder killed).
    const mine = kept(OWNER);
    expect(mine.data || mine.copy).toBe(true);
    expect(await notesWarnings(OWNER)).toEqual([ungranted(stolen)]);
  }, 120_000);
});
