/**
 * A zone that lasts: its devices agree on checkpoints and let go of the history they
 * supersede (in seconds here, a week back by default), a device that was away past a
 * compaction comes back and converges, a new one joins from the checkpoint, and named
 * data nothing refers to goes.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ObjectStore } from "../lib/ndn/store.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import {
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  startZone,
  userState,
  waitFor,
} from "./harness.ts";

afterAll(cleanUp);

/** Checkpoints at cuts every half second, of what is over a second and a half old. */
const COMPACT = {
  BUCKY_CHECKPOINT_HORIZON_MS: "1500",
  BUCKY_CHECKPOINT_PERIOD_MS: "500",
  BUCKY_CHECKPOINT_EVERY_MS: "250",
};

interface History {
  changesets: number;
  keys: number;
  checkpoint: { id: string; cut: string; keys: number } | null;
}

interface DiskStatus {
  disk: { device: string; usage: { state: History; leftovers: { what: string }[] } | null }[];
}

/** What a device's own `status --disk` says of its history. */
async function historyOf(home: string, device: string): Promise<History> {
  const status = await buckyJson<DiskStatus>(["status", "--disk", "--home", home]);
  const own = status.disk.find((d) => d.device === device)?.usage;
  if (!own) throw new Error(`${device} says nothing of its own disk`);
  return own.state;
}

/** Waits until every device holds a checkpoint covering what was written by `since` (ms). */
async function compacted(devices: ReadonlyMap<string, Daemon>, since: number): Promise<History[]> {
  return waitFor(
    "the devices to agree on a checkpoint",
    async () => {
      const histories = await Promise.all(
        [...devices].map(([name, daemon]) => historyOf(daemon.home, name)),
      );
      const covering = histories.every(
        (h) => h.checkpoint !== null && Date.parse(h.checkpoint.cut) > since,
      );
      return covering ? histories : undefined;
    },
    30_000,
  );
}

describe("a zone's history", () => {
  test("is compacted on every device alike, the state unchanged; a device away comes back to it; a new one joins from it", async () => {
    const zone = await startZone(["a", "b", "c"], COMPACT);
    const [a, b, c] = ["a", "b", "c"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
      Daemon,
    ];
    for (let i = 0; i < 30; i++)
      await buckyJson([
        "state",
        "set",
        `apps/counter/k${i % 3}`,
        String(i),
        "--home",
        [a, b][i % 2]?.home as string,
      ]);
    await buckyJson(["state", "del", "apps/counter/k2", "--home", a.home]);
    const written = Date.now();
    const expected = await waitFor("the writes to reach everyone", async () => {
      const states = await Promise.all([a, b, c].map((d) => userState(d.home)));
      return states.every(
        (s) => JSON.stringify(s) === JSON.stringify(states[0]) && s["apps/counter/k1"] === 28,
      )
        ? states[0]
        : undefined;
    });
    expect(expected).toEqual({ "apps/counter/k0": 27, "apps/counter/k1": 28 });

    // The 31 changesets written above, each superseded by a later write but the last of
    // each feed, are let go: the history gets shorter, whatever the devices write meanwhile
    // (presence, facts, their endorsements: more of it on a loaded machine).
    const before = await Promise.all(
      [a, b, c].map((d, i) => historyOf(d.home, "abc"[i] as string)),
    );
    const histories = await compacted(zone, written);
    for (const [i, history] of histories.entries())
      expect(history.changesets).toBeLessThan((before[i] as History).changesets);
    for (const daemon of [a, b, c]) expect(await userState(daemon.home)).toEqual(expected);

    // c is away while the others go on, agree on a newer checkpoint and let go of more.
    await c.stop();
    await buckyJson(["state", "set", "apps/counter/k0", '"while c was away"', "--home", a.home]);
    await buckyJson(["state", "set", "apps/counter/k3", "3", "--home", b.home]);
    const away = Date.now();
    await compacted(
      new Map([
        ["a", a],
        ["b", b],
      ]),
      away,
    );
    const back = await startDaemon(c.home, COMPACT);
    zone.set("c", back);
    const after = {
      "apps/counter/k0": "while c was away",
      "apps/counter/k1": 28,
      "apps/counter/k3": 3,
    };
    await waitFor("c to catch up", async () =>
      JSON.stringify(await userState(back.home)) === JSON.stringify(after) ? true : undefined,
    );
    expect(back.log()).toContain("checkpoint taken");

    // A new device joins from the checkpoint and what came after it.
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", a.home]);
    const home = newHomePath();
    const joined = await buckyJson<{ changesets: number; checkpoint: string | null }>([
      "join",
      token,
      "--home",
      home,
      "--device",
      "d",
      "--no-start",
    ]);
    expect(joined.checkpoint).not.toBeNull();
    const d = await startDaemon(home, COMPACT);
    await waitFor("d to have the zone", async () =>
      JSON.stringify(await userState(d.home)) === JSON.stringify(after) ? true : undefined,
    );
    // Its first full verification, of a state that starts from a checkpoint, finds it whole.
    await waitFor("d's verification", () =>
      d.log().includes("zone state verified") ? true : undefined,
    );
  }, 120_000);
});

describe("a device away across a compaction", () => {
  test("comes back to a key deleted meanwhile, its own older write to it unsynced, with the deleting device SIGKILLed", async () => {
    const zone = await startZone(["a", "b", "c"], COMPACT);
    const [a, b, c] = ["a", "b", "c"].map((name) => zone.get(name) as Daemon) as [
      Daemon,
      Daemon,
      Daemon,
    ];
    await buckyJson(["state", "set", "apps/y", '"first"', "--home", a.home]);
    await waitFor("c to hold apps/y", async () =>
      (await userState(c.home))["apps/y"] === "first" ? true : undefined,
    );
    // c writes apps/y while no other device can hear it, then goes away (SIGKILL).
    for (const d of [a, b]) process.kill(d.pid, "SIGSTOP");
    const unsynced = await buckyJson<{ heldElsewhere: string }>([
      "state",
      "set",
      "apps/y",
      '"c\'s, never synced"',
      "--home",
      c.home,
    ]).finally(() => {
      for (const d of [a, b]) process.kill(d.pid, "SIGCONT");
    });
    expect(unsynced.heldElsewhere).toBe("not yet");
    await c.kill();
    // a deletes it, later; a and b compact past the deletion, then a goes (SIGKILL).
    await buckyJson(["state", "del", "apps/y", "--home", a.home]);
    await buckyJson(["state", "set", "apps/z", "1", "--home", a.home]);
    const deleted = Date.now();
    await compacted(
      new Map([
        ["a", a],
        ["b", b],
      ]),
      deleted,
    );
    await a.kill();
    const back = await startDaemon(c.home, COMPACT);
    // The deletion, later than c's write, wins on c and on b alike.
    await waitFor("c and b to agree", async () => {
      const [onB, onC] = await Promise.all([userState(b.home), userState(back.home)]);
      return JSON.stringify(onB) === JSON.stringify(onC) &&
        JSON.stringify(onC) === JSON.stringify({ "apps/z": 1 })
        ? true
        : undefined;
    });
    expect(back.log()).toContain("checkpoint taken");
  }, 90_000);
});

describe("a home made by bucky 0.1.0", () => {
  test("is opened, upgraded and compacted by itself; what its owner stored stays until released", async () => {
    const fixture = join(import.meta.dir, "../fixtures/homes/v0.1.0");
    const { stored } = JSON.parse(readFileSync(join(fixture, "fixture.json"), "utf8")) as {
      stored: string;
    };
    const root = scratchDir();
    const homes = { nas: join(root, "nas"), laptop: join(root, "laptop") };
    for (const [name, home] of Object.entries(homes))
      cpSync(join(fixture, name), home, { recursive: true });
    // Opened as it is: migrated, checked against its seal, nothing lost.
    expect(await historyOf(homes.nas, "nas")).toMatchObject({ changesets: 59, checkpoint: null });

    const env = { ...COMPACT, BUCKY_NDN_GRACE_MS: "0", BUCKY_NDN_COLLECT_EVERY_MS: "300" };
    const devices = new Map([
      ["nas", await startDaemon(homes.nas, env)],
      ["laptop", await startDaemon(homes.laptop, env)],
    ]);
    const expected = {
      "apps/music/k0": { round: 4, k: 0 },
      "apps/music/k1": { round: 4, k: 1 },
      "apps/music/k2": { round: 4, k: 2 },
      "apps/music/k3": { round: 4, k: 3 },
      "apps/music/k4": { round: 4, k: 4 },
      "apps/music/k5": { round: 4, k: 5 },
      "apps/music/k6": { round: 4, k: 6 },
      "apps/notes/last": "written on the laptop",
      "users/me/round": 4,
    };
    expect(await userState(homes.nas)).toEqual(expected);
    // Both devices agree on a checkpoint of that history (two of two: more than half).
    const histories = await compacted(devices, Date.parse("2026-01-01T00:00:00Z"));
    for (const history of histories) expect(history.changesets).toBeLessThan(59);
    for (const home of Object.values(homes)) expect(await userState(home)).toEqual(expected);
    // The heartbeat keys from before presence records are gone: each device deleted its own.
    await waitFor("no leftovers", async () => {
      const status = await buckyJson<DiskStatus>(["status", "--disk", "--home", homes.nas]);
      const own = status.disk.find((d) => d.device === "nas");
      return own?.usage?.leftovers.length === 0 ? true : undefined;
    });

    // The file its owner stored then is kept as the owner's (collection ran meanwhile).
    const object = join(homes.nas, "ndn", "chunks", stored.slice(7, 9), stored.slice(7));
    await waitFor("a collection", () =>
      existsSync(join(homes.nas, "logs", "bucky.log")) &&
      readFileSync(join(homes.nas, "logs", "bucky.log"), "utf8").includes(
        "named data stored before kept as the owner's",
      )
        ? true
        : undefined,
    );
    expect(existsSync(object)).toBe(true);
    // Released, it is collected (the grace is nothing here).
    const released = await buckyJson<{ keptBy: string[]; collectedAfter: string | null }>([
      "rm",
      stored,
      "--home",
      homes.nas,
    ]);
    expect(released.keptBy).toEqual([]);
    await waitFor("the object to go", () => (existsSync(object) ? undefined : true), 15_000);
    const again = await bucky(["rm", stored, "--home", homes.nas, "--json"]);
    expect(again.exitCode).toBe(1);
  }, 120_000);
});

describe("named data", () => {
  test("what the owner stores stays until bucky rm (from any device), then goes everywhere; what nothing refers to goes", async () => {
    const zone = await startZone(["one", "two"], {
      BUCKY_NDN_GRACE_MS: "0",
      BUCKY_NDN_COLLECT_EVERY_MS: "300",
    });
    const one = zone.get("one") as Daemon;
    const two = zone.get("two") as Daemon;
    const file = join(scratchDir(), "photo.txt");
    writeFileSync(file, "a photo\n");
    const { id } = await buckyJson<{ id: string }>(["put", file, "--home", one.home]);
    const pathIn = (home: string, id: string) =>
      join(home, "ndn", "chunks", id.slice(7, 9), id.slice(7));
    const pathOf = (id: string) => pathIn(one.home, id);
    // An object in the store that nothing refers to: collected, while the photo stays.
    const stray = Buffer.from("nobody's");
    const strayId = `sha256:${new Bun.CryptoHasher("sha256").update(stray).digest("hex")}`;
    mkdirSync(join(pathOf(strayId), ".."), { recursive: true });
    writeFileSync(pathOf(strayId), stray);
    await waitFor("the stray object to go", () => (existsSync(pathOf(strayId)) ? undefined : true));
    expect(existsSync(pathOf(id))).toBe(true);
    // Stored zone-wide: two holds a copy, and lets it go for the zone.
    expect(existsSync(pathIn(two.home, id))).toBe(true);
    expect(await buckyJson(["rm", id, "--home", two.home])).toMatchObject({
      id,
      keptBy: [],
      zoneWide: true,
      storedHere: false,
    });
    await waitFor("the photo to go from both", () =>
      existsSync(pathOf(id)) || existsSync(pathIn(two.home, id)) ? undefined : true,
    );
    expect(jsonError(await bucky(["rm", id, "--home", one.home, "--json"])).code).toBe(
      "E_NOT_FOUND",
    );
    const gone = await bucky(["get", id, "-o", join(scratchDir(), "copy"), "--home", two.home]);
    expect(gone.exitCode).not.toBe(0);
  }, 60_000);

  test("a stored file's copy collected once past a budget lowered is counted no more", async () => {
    const zone = await startZone(["one", "two"], {
      BUCKY_NDN_GRACE_MS: "0",
      BUCKY_NDN_COLLECT_EVERY_MS: "300",
    });
    const one = zone.get("one") as Daemon;
    const two = zone.get("two") as Daemon;
    const file = join(scratchDir(), "poem.txt");
    writeFileSync(file, "a poem\n");
    const { id } = await buckyJson<{ id: string }>(["put", file, "--home", one.home]);
    const copies = async (home: string) =>
      (
        await buckyJson<{ storedFiles: { fewerThanTwoCopies: number; pastBudget: number } }>([
          "status",
          "--home",
          home,
        ])
      ).storedFiles;
    await waitFor("both to hold it", async () =>
      (await copies(two.home)).fewerThanTwoCopies === 0 ? true : undefined,
    );
    // No room for stored files: two's copy is kept by nothing, and collected; one's stays (put).
    await buckyJson(["state", "set", "system/files-budget", "0", "--home", one.home]);
    await waitFor("two's copy to go", () =>
      existsSync(join(two.home, "ndn", "chunks", id.slice(7, 9), id.slice(7))) ? undefined : true,
    );
    for (const home of [one.home, two.home])
      await waitFor(`${home} to count one copy`, async () => {
        const said = await copies(home);
        return said.fewerThanTwoCopies === 1 && said.pastBudget === 1 ? true : undefined;
      });
  }, 60_000);

  test("in a new home, what is stored before the first collection is no owner's: it goes", async () => {
    // The window a busy machine opens: an object lands before the daemon's first
    // collection has looked. Only a home made before references were counted has owner's
    // objects from before; this one was made by this version.
    const home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "one"]);
    const store = new ObjectStore(join(home, "ndn"));
    const stray = store.putBytes(new TextEncoder().encode("nobody's, early")).id;
    await startDaemon(home, { BUCKY_NDN_GRACE_MS: "0", BUCKY_NDN_COLLECT_EVERY_MS: "300" });
    await waitFor("the early stray object to go", () =>
      store.readObject(stray) ? undefined : true,
    );
  }, 60_000);

  test("a catalog's index, icons, descriptions and packages (from a file) stay while the zone has it", async () => {
    const zone = await startZone(["one"], {
      BUCKY_NDN_GRACE_MS: "0",
      BUCKY_NDN_COLLECT_EVERY_MS: "300",
    });
    const one = zone.get("one") as Daemon;
    const store = new ObjectStore(join(one.home, "ndn"));
    // Collections run (the first, which keeps what came before it as the owner's, is over).
    const collected = async (text: string) => {
      const stray = store.putBytes(new TextEncoder().encode(text)).id;
      await waitFor("a stray object to go", () => (store.readObject(stray) ? undefined : true));
    };
    await collected("nobody's");
    const dir = scratchDir();
    cpSync(resolve(import.meta.dir, "../fixtures/apps/notes"), join(dir, "notes"), {
      recursive: true,
    });
    writeFileSync(join(dir, "notes", "about.txt"), "Notes kept in SQLite.");
    writeFileSync(
      join(dir, "catalog.json"),
      JSON.stringify({
        name: "test-apps",
        title: { en: "Test apps" },
        version: 1,
        apps: [
          {
            dir: "notes",
            summary: { en: "Notes" },
            description: { en: "notes/about.txt" },
            icon: "notes/icon.svg",
          },
        ],
      }),
    );
    const out = join(dir, "out");
    const { publisher } = await buckyJson<{ publisher: string }>([
      "store",
      "publish",
      join(dir, "catalog.json"),
      "--key",
      join(dir, "publisher.key"),
      "--out",
      out,
    ]);
    await buckyJson(["store", "add", out, "--key", publisher, "--home", one.home]);
    const jws = readFileSync(join(out, "catalog.jws"), "utf8").trim();
    const index = `sha256:${new Bun.CryptoHasher("sha256").update(jws).digest("hex")}`;
    const named = [index, ...readdirSync(join(out, "ndn"))] as ObjectId[];
    for (const id of named) expect(store.readObject(id)).toBeDefined();
    await collected("nobody's either");
    expect(named.filter((id) => store.readObject(id) === undefined)).toEqual([]);
    const listed = await buckyJson<{ catalogs: { name: string; problem: unknown }[] }>([
      "store",
      "list",
      "--home",
      one.home,
    ]);
    expect(listed.catalogs.find((c) => c.name === "test-apps")?.problem).toBeNull();
    // The owner stores the same icon, then releases it: `bucky rm` says the catalog keeps it.
    const put = await buckyJson<{ id: string }>([
      "put",
      join(dir, "notes", "icon.svg"),
      "--home",
      one.home,
    ]);
    expect(named).toContain(put.id as ObjectId);
    const released = await buckyJson(["rm", put.id, "--home", one.home]);
    expect(released).toEqual({
      id: put.id,
      keptBy: ["catalog"],
      collectedAfter: null,
      zoneWide: true,
      storedHere: true,
      heldElsewhere: "alone",
      wasPublic: null,
      wasStored: true,
    });
  }, 60_000);
});
