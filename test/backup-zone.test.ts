/**
 * Backups of a zone of two devices, end to end with real daemons: a target the NAS added
 * (a directory only it reaches) is the zone's; the laptop, given the backup key when it
 * joined, backs up its own home to it through the NAS; each restores its own data; a
 * member cannot get outside the repository through the NAS, nor undo what others wrote;
 * prune keeps each device's history; two devices back up at once; status says the same on
 * both; and when the NAS is off, the laptop's backup is unavailable, then goes on by itself.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { LocalBackend } from "../lib/backup/local-backend.ts";
import { Repository } from "../lib/backup/repository.ts";
import { openChangesets } from "../lib/backup/sealed.ts";
import { encodeRemoteRequest, type RemoteRequest } from "../protocol/backup/remote.ts";
import { zoneTargetKey } from "../protocol/backup/zone-target.ts";
import { decodeChangeset } from "../protocol/changeset.ts";
import { generateTree } from "./generated-tree.ts";
import {
  answeredOnceHeld,
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
import { actAs, type Member } from "./member.ts";

afterAll(cleanUp);

interface TargetJson {
  name: string;
  url: string;
  via: string;
  reach: "direct" | "through";
  lastBackup: string | null;
  lastVerify: unknown;
}

interface SnapshotJson {
  id: string;
  time: string;
  device: string;
}

async function targets(home: string): Promise<TargetJson[]> {
  return (await buckyJson<{ targets: TargetJson[] }>(["backup", "target", "list", "--home", home]))
    .targets;
}

async function snapshots(home: string, device?: string): Promise<SnapshotJson[]> {
  return (
    await buckyJson<{ snapshots: SnapshotJson[] }>([
      "backup",
      "list",
      "--home",
      home,
      ...(device ? ["--device", device] : []),
    ])
  ).snapshots;
}

/** Waits until `home`'s device sees the zone's target `name`. */
function seesTarget(home: string, name: string): Promise<TargetJson> {
  return waitFor(`${home} to see the target ${name}`, async () =>
    (await targets(home)).find((t) => t.name === name),
  );
}

describe("one target for a zone of two devices", () => {
  let nas: Daemon;
  let laptop: Daemon;
  let repo: string;
  /** What `home`'s status says of the nas's hot changes to usb failing. */
  const nasHotFailing = async (home: string) =>
    (
      await buckyJson<{ backups: { device: string; target: string; hotFailing: unknown }[] }>([
        "status",
        "--home",
        home,
      ])
    ).backups.find((b) => b.device === "nas" && b.target === "usb")?.hotFailing;
  /** The target's hot/ made something no hot file goes into (say, read-only by hand). */
  const breakHot = () => {
    renameSync(join(repo, "hot"), join(repo, "hot-aside"));
    writeFileSync(join(repo, "hot"), "not a directory");
  };
  const mendHot = () => {
    rmSync(join(repo, "hot"));
    renameSync(join(repo, "hot-aside"), join(repo, "hot"));
  };

  beforeAll(async () => {
    const zone = await startZone(["nas", "laptop"]);
    nas = zone.get("nas") as Daemon;
    laptop = zone.get("laptop") as Daemon;
    for (const [daemon, text] of [
      [nas, "the nas's own file"],
      [laptop, "the laptop's own file"],
    ] as const) {
      mkdirSync(join(daemon.home, "data"), { recursive: true });
      writeFileSync(join(daemon.home, "data", "mine.txt"), `${text}\n`);
    }
    repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
  }, 60_000);

  test("the target is the zone's: each device sees it, and how it reaches it", async () => {
    expect(await targets(nas.home)).toEqual([
      { name: "usb", url: repo, via: "nas", reach: "direct", lastBackup: null, lastVerify: null },
    ] as TargetJson[]);
    const seen = await seesTarget(laptop.home, "usb");
    expect(seen).toMatchObject({ name: "usb", url: repo, via: "nas", reach: "through" });
    const text = await bucky(["backup", "target", "list", "--home", laptop.home]);
    expect(text.stdout).toContain("through nas");
    // The laptop's own file holds nothing of it: the key to it stays with the NAS.
    expect(existsSync(join(laptop.home, "backup", "targets.json"))).toBe(false);
  });

  test("each device backs up its own home to it, the laptop through the NAS", async () => {
    const fromNas = await buckyJson<{ via: string | null }>(["backup", "run", "--home", nas.home]);
    expect(fromNas.via).toBeNull();
    const fromLaptop = await buckyJson<{ via: string | null; target: string }>([
      "backup",
      "run",
      "--home",
      laptop.home,
    ]);
    expect(fromLaptop).toMatchObject({ via: "nas", target: "usb" });
    // Both in the one repository, each by its device, seen alike from both.
    const listed = await snapshots(laptop.home);
    expect(listed.map((s) => s.device).sort()).toEqual(["laptop", "nas"]);
    expect(await snapshots(nas.home)).toEqual(listed);
    expect((await snapshots(nas.home, "laptop")).map((s) => s.device)).toEqual(["laptop"]);
    // What travelled through the NAS was sealed on the laptop: no plaintext in the packs.
    for (const dir of readdirSync(join(repo, "data")))
      for (const pack of readdirSync(join(repo, "data", dir)))
        expect(readFileSync(join(repo, "data", dir, pack)).includes("the laptop's own")).toBe(
          false,
        );
  }, 60_000);

  test("changes made on the laptop are shipped hot, through the NAS, in the laptop's name", async () => {
    await buckyJson([
      "state",
      "set",
      "notes/laptop",
      '"written on the laptop"',
      "--home",
      laptop.home,
    ]);
    await waitFor("a hot file from the laptop", () =>
      existsSync(join(repo, "hot")) &&
      readdirSync(join(repo, "hot")).some((name) => name.includes("Z-laptop-"))
        ? true
        : undefined,
    );
  });

  test("each restores its own latest, and another device's with --device", async () => {
    for (const [daemon, text] of [
      [nas, "the nas's own file"],
      [laptop, "the laptop's own file"],
    ] as const) {
      const to = join(scratchDir(), "own");
      const restored = await buckyJson<{ device: string }>([
        "backup",
        "restore",
        "latest",
        "--to",
        to,
        "--home",
        daemon.home,
      ]);
      expect(restored.device).toBe(daemon === nas ? "nas" : "laptop");
      expect(readFileSync(join(to, "data", "mine.txt"), "utf8")).toBe(`${text}\n`);
    }
    const other = join(scratchDir(), "other");
    await buckyJson([
      "backup",
      "restore",
      "latest",
      "--device",
      "nas",
      "--to",
      other,
      "--home",
      laptop.home,
    ]);
    expect(readFileSync(join(other, "data", "mine.txt"), "utf8")).toBe("the nas's own file\n");
  }, 60_000);

  test("a device's home is never restored over another device of the zone", async () => {
    const refused = await bucky([
      "backup",
      "restore",
      "latest",
      "--device",
      "nas",
      "--home",
      laptop.home,
      "--json",
    ]);
    expect(refused.exitCode).toBe(3); // its daemon runs: refused first for that
    await laptop.stop();
    const again = await bucky([
      "backup",
      "restore",
      "latest",
      "--device",
      "nas",
      "--home",
      laptop.home,
      "--json",
    ]);
    expect(again.exitCode).toBe(2);
    expect(jsonError(again).message).toContain("would make a second nas");
    laptop = await startDaemon(laptop.home);
  }, 60_000);

  describe("through the NAS, a member reaches the repository and nothing else", () => {
    let member: Member;
    const ask = (request: RemoteRequest, target = "usb") =>
      member.post(nas, `/v1/backup/targets/${target}`, encodeRemoteRequest(request)).then(
        (bytes) => ({ ok: true as const, bytes }),
        (error: Error & { code?: string }) => ({ ok: false as const, error }),
      );
    const refusal = async (request: RemoteRequest, target?: string) => {
      const answer = await ask(request, target);
      if (answer.ok) throw new Error(`${request.op} ${request.path} was allowed`);
      return `${answer.error.code}: ${answer.error.message}`;
    };

    beforeAll(async () => {
      member = await actAs(laptop.home);
    });

    test("no path outside the repository's layout", async () => {
      writeFileSync(join(repo, "..", "secret.txt"), "not for members");
      for (const path of ["../secret.txt", "/etc/passwd", "data/../../secret.txt", "keys", "data"])
        expect(await refusal({ op: "read", path })).toMatch(/^E_PERMISSION: .*not a file/);
      expect(await refusal({ op: "list", path: ".." })).toMatch(/^E_PERMISSION/);
      expect(await refusal({ op: "read", path: "config" }, "nothere")).toMatch(/^E_NOT_FOUND/);
      // What is in the layout reads: the repository is sealed to the zone's key anyway.
      expect((await ask({ op: "read", path: "config" })).ok).toBe(true);
    });

    test("nothing another device wrote can be altered or deleted", async () => {
      const [snapshot] = readdirSync(join(repo, "snapshots"));
      const before = readFileSync(join(repo, "snapshots", snapshot as string));
      const junk = new Uint8Array([1, 2, 3]);
      expect(await refusal({ op: "remove", path: `snapshots/${snapshot}` })).toMatch(
        /^E_PERMISSION: .*only be removed by the device that reaches the target/,
      );
      expect(await refusal({ op: "write", path: `snapshots/${snapshot}`, data: junk })).toMatch(
        /^E_EXISTS/,
      );
      expect(await refusal({ op: "write", path: "config", data: junk })).toMatch(/^E_PERMISSION/);
      expect(await refusal({ op: "write", path: "locks/exclusive", data: junk })).toMatch(
        /^E_PERMISSION/,
      );
      const [dir] = readdirSync(join(repo, "data"));
      const [pack] = readdirSync(join(repo, "data", dir as string));
      expect(await refusal({ op: "write", path: `data/${dir}/${pack}`, data: junk })).toMatch(
        /^E_INTEGRITY: .*does not hold what its name says/,
      );
      expect(await refusal({ op: "remove", path: `data/${dir}/${pack}` })).toMatch(/^E_PERMISSION/);
      expect(readFileSync(join(repo, "snapshots", snapshot as string))).toEqual(before);
      // A pack under the name its bytes hash to is fine: it is the same pack either way.
      const hash = createHash("sha256").update(junk).digest("hex");
      const same = `data/${hash.slice(0, 2)}/${hash}`;
      expect((await ask({ op: "write", path: same, data: junk })).ok).toBe(true);
      rmSync(join(repo, same));
    });

    test("hot files only in its own name; locks only its own", async () => {
      const hot = (device: string) => `hot/20260101T000000000Z-${device}-0badf00d`;
      expect(await refusal({ op: "write", path: hot("nas"), data: new Uint8Array(1) })).toMatch(
        /^E_PERMISSION: .*not in the name of laptop/,
      );
      expect((await ask({ op: "write", path: hot("laptop"), data: new Uint8Array(1) })).ok).toBe(
        true,
      );
      rmSync(join(repo, hot("laptop")));
      const nasLock = `locks/shared-${"b".repeat(32)}`;
      writeFileSync(
        join(repo, nasLock),
        JSON.stringify({ hostname: "nas", pid: 1, purpose: "backup", refreshedAt: Date.now() }),
      );
      expect(await refusal({ op: "remove", path: nasLock })).toMatch(
        /^E_PERMISSION: .*not held by laptop/,
      );
      expect(
        await refusal({ op: "write", path: nasLock, data: new TextEncoder().encode("{}") }),
      ).toMatch(/^E_PERMISSION/);
      expect(existsSync(join(repo, nasLock))).toBe(true);
      const own = `locks/shared-${"c".repeat(32)}`;
      const lock = new TextEncoder().encode(JSON.stringify({ purpose: "backup", device: "nas" }));
      expect((await ask({ op: "create", path: own, data: lock })).ok).toBe(true);
      // Stamped with who took it, whatever it claimed.
      expect(JSON.parse(readFileSync(join(repo, own), "utf8")).device).toBe("laptop");
      expect((await ask({ op: "remove", path: own })).ok).toBe(true);
      expect(existsSync(join(repo, own))).toBe(false);
      rmSync(join(repo, nasLock));
    });
  });

  test("prune runs where the target is reached, and keeps each device's history", async () => {
    const elsewhere = await bucky(["backup", "prune", "--home", laptop.home, "--json"]);
    expect(elsewhere.exitCode).toBe(2);
    expect(jsonError(elsewhere).message).toBe("usb is pruned by nas, the device that reaches it");
    // The NAS backs up a dozen times more; the laptop's one snapshot is the oldest of all.
    for (let i = 0; i < 11; i++) {
      writeFileSync(join(nas.home, "data", `more-${i}.txt`), `version ${i}\n`);
      await buckyJson(["backup", "run", "--home", nas.home]);
    }
    // Each run records, for the zone's status, how much it read anew, how long after the
    // one before it ran, and what it stored.
    const { usb } = JSON.parse(readFileSync(join(nas.home, "backup", "status.json"), "utf8")) as {
      usb: { lastBackup: { changedBytes: number; sinceMs: number; storedBytes: number } };
    };
    expect(usb.lastBackup.changedBytes).toBeGreaterThan(0);
    expect(usb.lastBackup.sinceMs).toBeGreaterThan(0);
    expect(usb.lastBackup.storedBytes).toBeGreaterThan(0);
    const pruned = await buckyJson<{ keptSnapshots: number; removedSnapshots: number }>([
      "backup",
      "prune",
      "--home",
      nas.home,
    ]);
    expect(pruned).toMatchObject({ keptSnapshots: 11, removedSnapshots: 2 });
    expect((await snapshots(nas.home, "laptop")).length).toBe(1);
    expect((await snapshots(nas.home, "nas")).length).toBe(10);
    const to = join(scratchDir(), "after-prune");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", laptop.home]);
    expect(readFileSync(join(to, "data", "mine.txt"), "utf8")).toBe("the laptop's own file\n");
  }, 120_000);

  test("the two back up at the same time: both finish, and everything reads back", async () => {
    generateTree(join(nas.home, "data", "bulk"), 40 * 1024 * 1024);
    generateTree(join(laptop.home, "data", "bulk"), 40 * 1024 * 1024);
    const [a, b] = await Promise.all(
      [nas, laptop].map((d) => bucky(["backup", "run", "--home", d.home, "--json"])),
    );
    expect([a?.exitCode, b?.exitCode, a?.stderr, b?.stderr]).toEqual([0, 0, "", ""]);
    const verified = await buckyJson<{ ok: boolean }>([
      "backup",
      "verify",
      "--read-data",
      "--home",
      laptop.home,
    ]);
    expect(verified.ok).toBe(true);
    for (const daemon of [nas, laptop]) {
      const to = join(scratchDir(), "both");
      await buckyJson([
        "backup",
        "restore",
        "latest",
        "--to",
        to,
        "--path",
        "data",
        "--home",
        daemon.home,
      ]);
      expect(readdirSync(join(to, "data", "bulk")).sort()).toEqual(
        readdirSync(join(daemon.home, "data", "bulk")).sort(),
      );
    }
  }, 120_000);

  test("status is the same on both devices, and shows both devices' backups", async () => {
    type Status = Record<string, unknown> & {
      backups: { device: string; target: string; lastVerify: { ok: boolean } | null }[];
      reliability: { level: number };
    };
    // Each daemon verifies by itself a tick or two after its first backup (a minute each),
    // which a slow run reaches: the nas's is made here, so the level does not depend on when.
    await buckyJson(["backup", "verify", "--home", nas.home]);
    const [onNas, onLaptop] = await waitFor(
      "both devices to say the same, each device's verify in it",
      async () => {
        const both = await Promise.all(
          [nas, laptop].map((d) => buckyJson<Status>(["status", "--home", d.home])),
        );
        const [x, y] = both.map(({ home: _h, device: _d, ...rest }) => JSON.stringify(rest));
        const verified = both.every((s) => s.backups.every((b) => b.lastVerify?.ok));
        return x === y && verified ? both : undefined;
      },
      30_000,
    );
    const { home: _h1, device: _d1, ...fromNas } = onNas as Status;
    const { home: _h2, device: _d2, ...fromLaptop } = onLaptop as Status;
    expect(fromLaptop).toEqual(fromNas);
    expect(fromNas.backups.map((b) => `${b.device} ${b.target}`)).toEqual([
      "laptop usb",
      "nas usb",
    ]);
    // Backed up, two devices, every device's backups verified, and no app's data on one only.
    expect(fromNas.reliability.level).toBe(3);
  }, 60_000);

  test("the target rolls a device's history back: verify and list on either device say its latest is gone, and restore latest refuses the older one unless told", async () => {
    type Status = { backups: { device: string; lastBackup: { snapshot: string } | null }[] };
    type Verified = {
      ok: boolean;
      missingLatest: { device: string; snapshot: string; at: string }[];
    };
    const newest = (await snapshots(nas.home, "laptop")).at(-1) as SnapshotJson;
    // The NAS has heard from the laptop that this is its last backup.
    await waitFor("the nas to hear the laptop's last backup", async () => {
      const status = await buckyJson<Status>(["status", "--home", nas.home]);
      const said = status.backups.find((b) => b.device === "laptop")?.lastBackup?.snapshot;
      return said === newest.id ? true : undefined;
    });
    // The target (untrusted, off the zone) hides it: an older snapshot of the laptop stays.
    const hidden = join(scratchDir(), newest.id);
    renameSync(join(repo, "snapshots", newest.id), hidden);
    expect((await snapshots(nas.home, "laptop")).length).toBeGreaterThan(0);
    try {
      for (const daemon of [nas, laptop]) {
        const run = await bucky(["backup", "verify", "--home", daemon.home, "--json"]);
        expect(run.exitCode).toBe(4);
        const verified = JSON.parse(run.stdout) as Verified;
        expect(verified.ok).toBe(false);
        expect(verified.missingLatest.map((m) => `${m.device} ${m.snapshot}`)).toEqual([
          `laptop ${newest.id}`,
        ]);
        const text = await bucky(["backup", "verify", "--home", daemon.home]);
        expect(text.stdout).toContain(`laptop's last backup (${newest.id.slice(0, 8)}`);
      }
      // backup list says so too, on either device, and restore latest of the laptop refuses
      // to take the older one unless told to.
      const older = (await snapshots(nas.home, "laptop")).at(-1) as SnapshotJson;
      for (const daemon of [nas, laptop]) {
        const listed = await buckyJson<{ missingLatest: { device: string; snapshot: string }[] }>([
          "backup",
          "list",
          "--home",
          daemon.home,
        ]);
        expect(listed.missingLatest.map((m) => `${m.device} ${m.snapshot}`)).toEqual([
          `laptop ${newest.id}`,
        ]);
        const text = await bucky(["backup", "list", "--home", daemon.home]);
        expect(text.stdout).toContain(`laptop's last backup (${newest.id.slice(0, 8)}`);
        const restoring = ["backup", "restore", "latest", "--device", "laptop", "--path", "data"];
        const refused = await bucky([
          ...[...restoring, "--to", join(scratchDir(), "older"), "--home", daemon.home, "--json"],
        ]);
        expect([refused.exitCode, jsonError(refused).message]).toEqual([
          4,
          expect.stringContaining(
            `laptop's last backup (${newest.id.slice(0, 8)}, ${newest.time}), as laptop said it, is not in`,
          ),
        ]);
        const taken = await buckyJson<{ snapshot: string }>([
          ...[...restoring, "--to", join(scratchDir(), "older"), "--accept-older"],
          ...["--home", daemon.home],
        ]);
        expect(taken.snapshot).toBe(older.id);
      }
    } finally {
      renameSync(hidden, join(repo, "snapshots", newest.id));
    }
    const again = await buckyJson<Verified>(["backup", "verify", "--home", nas.home]);
    expect(again).toMatchObject({ ok: true, missingLatest: [] });
  }, 60_000);

  test("damage a verify on the nas finds in the laptop's data: every device says so until the laptop's next backup stores it again", async () => {
    type Status = { reliability: { notes: Record<string, unknown>[]; warnings: string[] } };
    const packFiles = () =>
      readdirSync(join(repo, "data")).flatMap((dir) =>
        readdirSync(join(repo, "data", dir)).map((pack) => join(repo, "data", dir, pack)),
      );
    writeFileSync(join(laptop.home, "data", "only-here.bin"), randomBytes(256 * 1024));
    const before = new Set(packFiles());
    await buckyJson(["backup", "run", "--home", laptop.home]);
    // The target damages what only the laptop's backup stored: a byte of each pack it wrote.
    const written = packFiles().filter((pack) => !before.has(pack));
    expect(written.length).toBeGreaterThan(0);
    for (const pack of written) {
      const bytes = readFileSync(pack);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      writeFileSync(pack, bytes);
    }
    const found = await bucky(["backup", "verify", "--read-data", "--home", nas.home, "--json"]);
    expect(found.exitCode).toBe(4);
    const { damaged } = JSON.parse(found.stdout) as {
      damaged: { snapshots: { device: string }[] }[];
    };
    expect(damaged.length).toBeGreaterThan(0);
    expect(new Set(damaged.flatMap((d) => d.snapshots.map((s) => s.device)))).toEqual(
      new Set(["laptop"]),
    );
    // Only the laptop holds that data: every device says it is to store it again.
    const toStore = (status: Status) =>
      status.reliability.notes.filter((n) => n.kind === "damage-to-store");
    for (const daemon of [nas, laptop]) {
      const status = await waitFor(`${daemon.home} to say the damage`, async () => {
        const status = await buckyJson<Status>(["status", "--home", daemon.home]);
        return toStore(status).length > 0 ? status : undefined;
      });
      expect(toStore(status)).toEqual([
        {
          kind: "damage-to-store",
          device: "laptop",
          target: "usb",
          blobs: damaged.length,
          foundBy: "nas",
        },
      ]);
      expect(status.reliability.warnings).toContain(
        `a verify on nas found ${damaged.length === 1 ? "a blob" : `${damaged.length} blobs`} of laptop's backups to usb damaged: laptop's next backup stores ${damaged.length === 1 ? "it" : "them"} again (\`bucky backup run\` there does it now)`,
      );
    }
    // The laptop's next backup stores it again; then no device says it, and the nas's
    // verify finds the repository sound, the damaged packs still there.
    await buckyJson(["backup", "run", "--home", laptop.home]);
    for (const daemon of [nas, laptop])
      await waitFor(`${daemon.home} to no longer say the damage`, async () =>
        toStore(await buckyJson<Status>(["status", "--home", daemon.home])).length === 0
          ? true
          : undefined,
      );
    expect(packFiles()).toEqual(expect.arrayContaining(written));
    const sound = await buckyJson<{ ok: boolean }>([
      ...["backup", "verify", "--read-data", "--home", nas.home],
    ]);
    expect(sound.ok).toBe(true);
  }, 60_000);

  test("the damage records a verify and a backup write wait for no other device: with the laptop SIGKILLed, neither waits; back, it says what they did", async () => {
    type Status = { reliability: { notes: Record<string, unknown>[] } };
    const toStore = async (home: string) =>
      (await buckyJson<Status>(["status", "--home", home])).reliability.notes.filter(
        (n) => n.kind === "damage-to-store",
      );
    const packFiles = () =>
      readdirSync(join(repo, "data")).flatMap((dir) =>
        readdirSync(join(repo, "data", dir)).map((pack) => join(repo, "data", dir, pack)),
      );
    writeFileSync(join(nas.home, "data", "nas-only.bin"), randomBytes(256 * 1024));
    const before = new Set(packFiles());
    await buckyJson(["backup", "run", "--home", nas.home]);
    for (const pack of packFiles().filter((p) => !before.has(p))) {
      const bytes = readFileSync(pack);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      writeFileSync(pack, bytes);
    }
    await laptop.kill();
    // Each record written waited 3 s for the laptop before: a device's own findings, which
    // the next verify finds again, are not worth a person's wait for devices that are off.
    const timed = async (args: string[]) => {
      const started = Date.now();
      const result = await bucky([...args, "--home", nas.home, "--json"]);
      return { ...result, tookMs: Date.now() - started };
    };
    const found = await timed(["backup", "verify", "--read-data"]);
    expect(found.exitCode).toBe(4);
    expect(found.tookMs).toBeLessThan(3_000);
    expect(await toStore(nas.home)).toMatchObject([{ device: "nas", foundBy: "nas" }]);
    const stored = await timed(["backup", "run"]);
    expect(stored.exitCode).toBe(0);
    expect(stored.tookMs).toBeLessThan(3_000);
    expect(await toStore(nas.home)).toEqual([]);
    // The laptop back holds what the nas wrote meanwhile (the record, then what its backup
    // stored again, beside it): no damage left to store.
    laptop = await startDaemon(laptop.home);
    await waitFor("the laptop to hold the nas's record and what it stored again", async () => {
      const found = await stateUnder(laptop.home, "system/backup/damage/usb/nas");
      const handled = await stateUnder(laptop.home, "nodes/nas/backup/handled/usb");
      return Object.keys(found).length > 0 && Object.keys(handled).length > 0 ? true : undefined;
    });
    expect(await toStore(laptop.home)).toEqual([]);
  }, 60_000);

  test("files the laptop's backup left out are said by every device, with the laptop SIGKILLed too, until a backup holds them", async () => {
    type Status = { reliability: { notes: Record<string, unknown>[]; warnings: string[] } };
    const leftOut = async (home: string) =>
      (await buckyJson<Status>(["status", "--home", home])).reliability.notes.filter(
        (n) => n.kind === "backup-left-out",
      );
    // A Latin-1 name, as an archive made on another system unpacks it.
    const latin1 = Buffer.concat([
      Buffer.from(`${join(laptop.home, "data")}/`),
      Buffer.from("café.txt", "latin1"),
    ]);
    writeFileSync(latin1, "in no backup");
    const run = await buckyJson<{ leftOut: string[]; changing: string[] }>([
      ...["backup", "run", "--home", laptop.home],
    ]);
    expect(run.leftOut).toEqual(["data/caf\\xe9.txt"]);
    const note = { kind: "backup-left-out", device: "laptop", target: "usb", count: 1 };
    await waitFor("the nas to say the laptop's backup left a file out", async () =>
      (await leftOut(nas.home)).length > 0 ? true : undefined,
    );
    expect(await leftOut(nas.home)).toEqual([note]);
    expect(await leftOut(laptop.home)).toEqual([note]);
    // The zone's word, not the laptop's answer: the same with the laptop gone.
    await laptop.kill();
    const status = await buckyJson<Status>(["status", "--home", nas.home]);
    expect(status.reliability.notes.filter((n) => n.kind === "backup-left-out")).toEqual([note]);
    expect(status.reliability.warnings).toContain(
      "the last backup of laptop to usb left out a file: its name is not UTF-8; `bucky backup run --json` on laptop says which (`leftOut`); renamed, it is backed up",
    );
    // Renamed, the next backup holds it, and no device says it any more.
    laptop = await startDaemon(laptop.home);
    renameSync(latin1, join(laptop.home, "data", "café.txt"));
    const again = await buckyJson<{ leftOut: string[] }>(["backup", "run", "--home", laptop.home]);
    expect(again.leftOut).toEqual([]);
    for (const daemon of [nas, laptop])
      await waitFor(`${daemon.home} to no longer say a file left out`, async () =>
        (await leftOut(daemon.home)).length === 0 ? true : undefined,
      );
  }, 60_000);

  test("hot changes of the nas that fail to reach the target, while its backups there work, are said by the laptop, with the nas SIGKILLed too, until they go, with no change to ship", async () => {
    breakHot();
    // A change to the zone state on the nas (an invitation), which goes hot.
    await buckyJson(["invite", "--home", nas.home]);
    await buckyJson(["backup", "run", "--home", nas.home]);
    const said = await waitFor("the laptop to hear that the nas's hot changes fail", async () => {
      const failing = (await nasHotFailing(laptop.home)) as {
        since: string;
        message: string;
      } | null;
      return failing ?? undefined;
    });
    expect(said.message.length).toBeGreaterThan(0);
    await nas.kill();
    expect(await nasHotFailing(laptop.home)).toEqual(said);
    // Back, its start tries the target again: still failing, it says so (a restart does
    // not forget it).
    nas = await startDaemon(nas.home);
    await waitFor("the nas to try the target again", () =>
      nas.log().includes("hot backup still fails since before this start") ? true : undefined,
    );
    expect(await nasHotFailing(nas.home)).toEqual(said);
    expect(await nasHotFailing(laptop.home)).toEqual(said);
    // Tried again less and less often (a target away for days is not dialled every 2 s):
    // 2 s after the first try, then 4 (however late a loaded machine makes each one).
    const tries = await waitFor(
      "the nas to try twice more",
      () => {
        const times = nas
          .log()
          .split("\n")
          .filter((line) => /hot backup (still fails since before|failed again)/.test(line))
          .map((line) => Date.parse(`1970-01-01T${line.slice(0, 12)}Z`));
        return times.length >= 3 ? times : undefined;
      },
      20_000,
    );
    // (The log says the time of day: a gap across midnight comes out a day short.)
    const gap = (from: number, to: number) => (to - from + 86_400_000) % 86_400_000;
    const [first, second, third] = tries as [number, number, number];
    expect(gap(first, second)).toBeGreaterThanOrEqual(1_900);
    expect(gap(second, third)).toBeGreaterThanOrEqual(3_900);
    // Mended, it goes by itself, no change made: before, every device said it failed until
    // the next change on the nas, hours away in a quiet zone.
    mendHot();
    // (Its next try comes after the wait it is at: up to 8 s here.)
    for (const daemon of [nas, laptop])
      await waitFor(
        `${daemon.home} to no longer say the hot changes fail`,
        async () => ((await nasHotFailing(daemon.home)) === null ? true : undefined),
        30_000,
      );
  }, 90_000);

  test("hot changes waiting out a failure go as the nas stops, not at its next start only", async () => {
    const nasHotFiles = () =>
      readdirSync(join(repo, "hot")).filter((name) => name.includes("Z-nas-")).length;
    const from = nas.log().length;
    const failures = () =>
      nas
        .log()
        .slice(from)
        .split("\n")
        .filter((line) => /hot backup (failed; retrying|failed again)/.test(line)).length;
    breakHot();
    await buckyJson(["invite", "--home", nas.home]);
    // Three failures: its next try is 8 s away.
    await waitFor(
      "the nas to fail three times",
      () => (failures() >= 3 ? true : undefined),
      20_000,
    );
    mendHot();
    const before = nasHotFiles();
    await nas.stop();
    // Before, the stop shipped only to targets not waiting: the invitation was in no hot file.
    expect(nasHotFiles()).toBeGreaterThan(before);
    nas = await startDaemon(nas.home);
  }, 60_000);

  test("hot changes waiting out a failure when the nas is killed go at its next start, and nothing shipped before goes again", async () => {
    const notes = ["notes/killed-first", "notes/killed-second"];
    breakHot();
    // Two changes on the nas while its hot changes fail: the first is not its newest.
    for (const key of notes)
      await buckyJson(["state", "set", key, '"waiting"', "--home", nas.home]);
    await waitFor(
      "the nas to say its hot changes fail",
      async () => ((await nasHotFailing(nas.home)) as object | null) ?? undefined,
    );
    await nas.kill();
    mendHot();
    const before = (await hotFiles(repo, nas.home, "nas")).length;
    nas = await startDaemon(nas.home);
    // Before, its start shipped the newest changeset alone: the first change was in no hot
    // file, and a restore lacked it until the nas's next backup.
    const shipped = await waitFor(
      "both changes in the nas's hot files",
      async () => {
        const files = await hotFiles(repo, nas.home, "nas");
        return notes.every((key) => files.flat().includes(key)) ? files : undefined;
      },
      30_000,
    );
    // Of the notes written in this file (the laptop's too), only the two that waited.
    expect(
      shipped
        .slice(before)
        .flat()
        .filter((key) => key.startsWith("notes/"))
        .sort(),
    ).toEqual(notes);
    await waitFor("the nas to no longer say the hot changes fail", async () =>
      (await nasHotFailing(nas.home)) === null ? true : undefined,
    );
  }, 60_000);

  test("hot changes failing, the nas started with its file of connections damaged: still said, not taken for a target removed", async () => {
    breakHot();
    await buckyJson(["invite", "--home", nas.home]);
    const said = await waitFor(
      "the nas to say its hot changes fail",
      async () => ((await nasHotFailing(nas.home)) as object | null) ?? undefined,
    );
    await nas.stop();
    const file = join(nas.home, "backup", "targets.json");
    const kept = readFileSync(file);
    writeFileSync(file, "{ not json");
    nas = await startDaemon(nas.home);
    await waitFor("the nas to find its file damaged", () =>
      nas.log().includes("backups stopped") ? true : undefined,
    );
    // Before, its start took every target for removed, and forgot the failure.
    expect(await nasHotFailing(nas.home)).toEqual(said);
    await nas.stop();
    writeFileSync(file, kept);
    mendHot();
    nas = await startDaemon(nas.home);
    await waitFor("the nas to no longer say the hot changes fail", async () =>
      (await nasHotFailing(nas.home)) === null ? true : undefined,
    );
  }, 60_000);

  test("a prune of the target that fails on the nas, which alone prunes it, is said by the laptop, with the nas SIGKILLed too, until one works", async () => {
    type Status = { backups: { device: string; target: string; pruneError: unknown }[] };
    const pruneError = async (home: string) =>
      (await buckyJson<Status>(["status", "--home", home])).backups.find(
        (b) => b.device === "nas" && b.target === "usb",
      )?.pruneError;
    // The disk it is on unplugged, say; a change on the nas meanwhile goes hot, and fails.
    renameSync(repo, `${repo}-away`);
    await buckyJson(["invite", "--home", nas.home]);
    const failed = await bucky(["backup", "prune", "--home", nas.home, "--json"]);
    expect(failed.exitCode).not.toBe(0);
    const said = await waitFor("the laptop to hear that the nas's prune fails", async () => {
      const error = (await pruneError(laptop.home)) as { at: string; since: string } | null;
      return error ?? undefined;
    });
    expect(said.since).toBe(said.at);
    await nas.kill();
    expect(await pruneError(laptop.home)).toEqual(said);
    // Back, with the disk: the next prune works, and no device says it fails any more.
    // Nothing was made where it was meanwhile (the hot changes shipped every few seconds
    // went there, on whatever disk held its mount point).
    expect(existsSync(repo)).toBe(false);
    renameSync(`${repo}-away`, repo);
    nas = await startDaemon(nas.home);
    await buckyJson(["backup", "prune", "--home", nas.home]);
    for (const daemon of [nas, laptop])
      await waitFor(`${daemon.home} to no longer say the prune fails`, async () =>
        (await pruneError(daemon.home)) === null ? true : undefined,
      );
  }, 60_000);
});

/** Whether `home`'s state database holds the removal of the target `name` (its tombstone). */
function removalHeld(home: string, name: string): boolean {
  return tombstoneHeld(home, zoneTargetKey(name));
}

/** Whether `home`'s state database holds the removal of `key` (its tombstone). */
function tombstoneHeld(home: string, key: string): boolean {
  const db = new Database(join(home, "state.db"), { readonly: true });
  try {
    const row = db
      .query<{ value: string | null }, [string]>("SELECT value FROM state WHERE key = ?")
      .get(key);
    return row !== null && row.value === null;
  } finally {
    db.close();
  }
}

describe("a target removed, and one added before the zone recorded targets", () => {
  test("removed on any device, it is gone for the zone, and the device that reached it forgets its key", async () => {
    const zone = await startZone(["nas", "laptop"]);
    const nas = zone.get("nas") as Daemon;
    const laptop = zone.get("laptop") as Daemon;
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
    const own = join(nas.home, "backup", "targets.json");
    expect(readFileSync(own, "utf8")).toContain('"usb"');
    await seesTarget(laptop.home, "usb");
    // Said removed only once the NAS holds it: lost with the laptop, the NAS would go on
    // backing up there.
    const removed = await answeredOnceHeld(
      [nas],
      () => buckyJson(["backup", "target", "rm", "usb", "--home", laptop.home]),
      { what: "the laptop to remove usb", seen: () => removalHeld(laptop.home, "usb") },
    );
    expect(removed).toEqual({ removed: "usb", url: repo, heldElsewhere: "held" });
    await waitFor("the NAS to forget the target", async () =>
      (await targets(nas.home)).length === 0 && !readFileSync(own, "utf8").includes('"usb"')
        ? true
        : undefined,
    );
    expect(await targets(laptop.home)).toEqual([]);
    // What it held stays where it was.
    expect(existsSync(join(repo, "config"))).toBe(true);
  }, 60_000);

  test("added again elsewhere under its name: no device says the laptop's backups there fail, or were made, before it tried", async () => {
    type Status = { reliability: { notes: { kind: string; device?: string; why?: string }[] } };
    const zone = await startZone(["nas", "laptop"]);
    const nas = zone.get("nas") as Daemon;
    const laptop = zone.get("laptop") as Daemon;
    const old = join(scratchDir(), "old-usb");
    await buckyJson(["backup", "target", "add", "usb", old, "--home", nas.home, "--no-backup"]);
    await seesTarget(laptop.home, "usb");
    // The disk dies: the laptop's backup to it fails, and every device says so.
    rmSync(old, { recursive: true, force: true });
    expect((await bucky(["backup", "run", "--home", laptop.home, "--json"])).exitCode).toBe(3);
    const failing = async (home: string) =>
      (await buckyJson<Status>(["status", "--home", home])).reliability.notes.filter(
        (n) => n.kind === "backup-failed",
      );
    await waitFor("the nas to say the laptop's backup failed", async () =>
      (await failing(nas.home)).length > 0 ? true : undefined,
    );
    // A new disk, under the old one's name.
    await buckyJson(["backup", "target", "rm", "usb", "--home", nas.home]);
    const fresh = join(scratchDir(), "new-usb");
    await buckyJson(["backup", "target", "add", "usb", fresh, "--home", nas.home, "--no-backup"]);
    await waitFor("the laptop to see the new disk", async () =>
      (await targets(laptop.home)).find((t) => t.url === fresh),
    );
    // The laptop has not tried it: no device says its backups there fail, nor that they
    // were made; its data is in no backup yet.
    for (const daemon of [laptop, nas]) {
      await waitFor(`${daemon.home} to no longer say the old disk's failure`, async () =>
        (await failing(daemon.home)).length === 0 ? true : undefined,
      );
      const { reliability } = await buckyJson<Status>(["status", "--home", daemon.home]);
      // Its first backup there is to come: not a zone without a target to add.
      expect(reliability.notes.filter((n) => n.device === "laptop")).toEqual([
        { kind: "no-backup", device: "laptop", why: "first-running" },
      ]);
    }
    await buckyJson(["backup", "run", "--home", laptop.home]);
    await waitFor("the nas to hear of the laptop's backup to the new disk", async () =>
      (await buckyJson<Status>(["status", "--home", nas.home])).reliability.notes.some(
        (n) => n.kind === "no-backup" && n.device === "laptop",
      )
        ? undefined
        : true,
    );
  }, 60_000);

  test("a target only in a device's own file is recorded for the zone when its daemon starts", async () => {
    const home = (await startZone(["solo"])).get("solo") as Daemon;
    await home.stop();
    const repo = join(scratchDir(), "old");
    // As a bucky from before the zone recorded targets left it: in the file alone.
    mkdirSync(join(home.home, "backup"), { recursive: true });
    writeFileSync(
      join(home.home, "backup", "targets.json"),
      JSON.stringify({ targets: [{ name: "old", url: repo }] }),
    );
    expect((await targets(home.home)).map((t) => t.name)).toEqual(["old"]);
    await startDaemon(home.home);
    const recorded = await waitFor("the target to be recorded", async () => {
      const entry = await buckyJson<{ value: { via: string; url: string } }>([
        "state",
        "get",
        "system/backup/targets/old",
        "--home",
        home.home,
      ]).catch(() => undefined);
      return entry?.value.via === "solo" ? entry.value : undefined;
    });
    expect(recorded.url).toBe(repo);
    expect(JSON.parse(readFileSync(join(home.home, "backup", "targets.json"), "utf8"))).toEqual({
      targets: [{ name: "old", url: repo, shared: true, adopted: true }],
    });
  }, 60_000);
});

/** For each hot file a device shipped to `repo`: the state keys its changesets write. */
async function hotFiles(repo: string, home: string, device: string): Promise<string[][]> {
  const key = readFileSync(join(home, "identity", "backup.key"), "utf8").trim();
  const root = new Uint8Array(Buffer.from(key.slice(key.indexOf(":") + 1), "base64url"));
  const repository = await Repository.open(new LocalBackend(repo), root, { withIndex: false });
  try {
    const names = existsSync(join(repo, "hot")) ? readdirSync(join(repo, "hot")).sort() : [];
    return names
      .filter((name) => name.includes(`Z-${device}-`))
      .map((name) =>
        openChangesets(repository.keys, name, readFileSync(join(repo, "hot", name))).flatMap(
          (bytes) => decodeChangeset(bytes).ops.map((op) => op.key),
        ),
      );
  } finally {
    repository.close();
  }
}

describe("two devices that each had a target of the same name before", () => {
  test("both are recorded for the zone, the second under a name of its device's", async () => {
    const zone = await startZone(["nas", "laptop"]);
    const dirs = new Map<string, string>();
    for (const [name, daemon] of zone) {
      await daemon.stop();
      const repo = join(scratchDir(), `${name}-usb`);
      dirs.set(name, repo);
      mkdirSync(join(daemon.home, "backup"), { recursive: true });
      writeFileSync(
        join(daemon.home, "backup", "targets.json"),
        JSON.stringify({ targets: [{ name: "usb", url: repo }] }),
      );
    }
    const [nas, laptop] = await Promise.all(
      [...zone.values()].map((daemon) => startDaemon(daemon.home)),
    );
    const seen = await waitFor(
      "both targets, on both devices",
      async () => {
        const both = await Promise.all([nas, laptop].map((d) => targets((d as Daemon).home)));
        return both.every((list) => list.length === 2) ? both : undefined;
      },
      30_000,
    );
    const [onNas, onLaptop] = seen as [TargetJson[], TargetJson[]];
    const second = onNas.find((t) => t.name !== "usb") as TargetJson;
    const first = onNas.find((t) => t.name === "usb") as TargetJson;
    expect(second.name).toBe(`usb-${second.via}`);
    expect(new Set([first.via, second.via])).toEqual(new Set(["nas", "laptop"]));
    for (const t of [first, second]) expect(t.url).toBe(dirs.get(t.via) as string);
    expect(onLaptop.map((t) => [t.name, t.via, t.url])).toEqual(
      onNas.map((t) => [t.name, t.via, t.url]),
    );
  }, 60_000);
});

describe("hot changes while one of two targets is away", () => {
  test("the target that works gets each change once, not again at every retry for the other", async () => {
    const nas = (await startZone(["nas"])).get("nas") as Daemon;
    const usb = join(scratchDir(), "usb");
    const away = join(scratchDir(), "away", "repo");
    mkdirSync(dirname(away));
    for (const [name, repo] of [
      ["usb", usb],
      ["away", away],
    ] as const)
      await buckyJson(["backup", "target", "add", name, repo, "--home", nas.home, "--no-backup"]);
    renameSync(away, `${away}.unplugged`);
    const shipped = (key: string) => async () =>
      (await hotFiles(usb, nas.home, "nas")).some((keys) => keys.includes(key)) ? true : undefined;
    await buckyJson(["state", "set", "notes/a", "1", "--home", nas.home]);
    await waitFor("the first change to reach usb", shipped("notes/a"));
    await buckyJson(["state", "set", "notes/b", "2", "--home", nas.home]);
    await waitFor("the second change to reach usb", shipped("notes/b"));
    const files = await hotFiles(usb, nas.home, "nas");
    expect(files.filter((keys) => keys.includes("notes/a"))).toHaveLength(1);
    expect(files.filter((keys) => keys.includes("notes/b"))).toHaveLength(1);
    // The one away is tried less and less often: after its third failure, in 8 s. A change
    // meanwhile still reaches the one that works within seconds, not at the end of that wait.
    const failuresAway = () =>
      nas
        .log()
        .split("\n")
        .filter((line) => /hot backup failed/.test(line) && line.includes("target=away")).length;
    await waitFor(
      "away to fail three times",
      () => (failuresAway() >= 3 ? true : undefined),
      20_000,
    );
    await buckyJson(["state", "set", "notes/c", "3", "--home", nas.home]);
    await waitFor(
      "the third change to reach usb before away's next try",
      shipped("notes/c"),
      6_000,
    );
  }, 60_000);
});

describe("when the device that reaches the target is off", () => {
  test("the other's backup is unavailable, said plainly, and goes on by itself once it is back", async () => {
    const zone = await startZone(["nas", "laptop"]);
    let nas = zone.get("nas") as Daemon;
    let laptop = zone.get("laptop") as Daemon;
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
    await seesTarget(laptop.home, "usb");
    await nas.stop();

    const refused = await bucky(["backup", "run", "--home", laptop.home, "--json"]);
    expect(refused.exitCode).toBe(3);
    expect(jsonError(refused)).toMatchObject({
      code: "E_UNAVAILABLE",
      message: expect.stringContaining(
        "the backup target usb is reached through nas, which is not answering",
      ),
      hint: "Backups to usb go on by themselves once nas is back online.",
    });

    // The laptop's daemon, on a short schedule, tries and fails, then succeeds once the NAS is back.
    await laptop.stop();
    laptop = await startDaemon(laptop.home, { BUCKY_BACKUP_EVERY_MS: "1500" });
    type Status = {
      backups: {
        device: string;
        lastBackup: { at: string } | null;
        lastError: { message: string } | null;
      }[];
    };
    const laptopsBackup = async () =>
      (await buckyJson<Status>(["status", "--home", laptop.home])).backups.find(
        (b) => b.device === "laptop",
      );
    await waitFor(
      "a scheduled backup of the laptop to fail",
      async () => ((await laptopsBackup())?.lastError ? true : undefined),
      30_000,
    );
    nas = await startDaemon(nas.home);
    const done = await waitFor(
      "a scheduled backup of the laptop to succeed",
      async () => {
        const b = await laptopsBackup();
        return b?.lastBackup ? b : undefined;
      },
      60_000,
    );
    expect(done.lastBackup).not.toBeNull();
    expect((await snapshots(nas.home, "laptop")).length).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe("what a device did just before it went away", () => {
  let nas: Daemon;
  let laptop: Daemon;
  const ENV = { BUCKY_FACTS_EVERY_MS: "600000" };
  type Said = { lastBackup: { snapshot: string } | null; lastVerify: { at: string } | null };
  type Status = {
    backups: ({ device: string; target: string } & Said)[];
    reliability: { notes: { kind: string; device?: string }[] };
  };
  /** What `on`'s status says of `device`'s backups to usb. */
  const backupSaid = async (on: Daemon, device: string): Promise<Said | undefined> =>
    (await buckyJson<Status>(["status", "--home", on.home])).backups.find(
      (b) => b.device === device && b.target === "usb",
    );
  /** What the laptop's status says of the nas's backups to usb. */
  const nasSaid = () => backupSaid(laptop, "nas");

  beforeAll(async () => {
    // The nas looks again at what its facts say every ten minutes, not seconds: what the
    // laptop hears of it below came because it happened.
    const zone = await startZone(["nas", "laptop"], ENV);
    nas = zone.get("nas") as Daemon;
    laptop = zone.get("laptop") as Daemon;
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
  }, 60_000);

  test("a backup a command ran on the nas, which is then SIGKILLed: the laptop says it", async () => {
    const { snapshot } = await buckyJson<{ snapshot: string }>([
      ...["backup", "run", "--home", nas.home],
    ]);
    // Before, the nas said it at its next look, seconds on: switched off first, never.
    const said = await waitFor("the laptop to hear of the nas's backup", async () =>
      (await nasSaid())?.lastBackup?.snapshot === snapshot ? true : undefined,
    );
    expect(said).toBe(true);
    await nas.kill();
    expect((await nasSaid())?.lastBackup?.snapshot).toBe(snapshot);
    nas = await startDaemon(nas.home, ENV);
  }, 60_000);

  test("a verify the nas ran, then stopped at once: the laptop says it", async () => {
    const before = (await nasSaid())?.lastVerify?.at ?? "";
    await buckyJson(["backup", "verify", "--home", nas.home]);
    await nas.stop();
    const verified = await waitFor("the laptop to hear of the nas's verify", async () => {
      const at = (await nasSaid())?.lastVerify?.at;
      return at && at > before ? at : undefined;
    });
    expect(Date.parse(verified)).toBeGreaterThan(0);
    nas = await startDaemon(nas.home, ENV);
  }, 60_000);

  test("the laptop's backups to usb, usb removed and added again while it is off: no device says them", async () => {
    const { snapshot } = await buckyJson<{ snapshot: string }>([
      ...["backup", "run", "--home", laptop.home],
    ]);
    await waitFor("the nas to hear of the laptop's backup", async () =>
      (await backupSaid(nas, "laptop"))?.lastBackup?.snapshot === snapshot ? true : undefined,
    );
    await laptop.kill();
    // The disk died: a new one, under the same name.
    await buckyJson(["backup", "target", "rm", "usb", "--no-wait", "--home", nas.home]);
    const usb = join(scratchDir(), "usb-new");
    await buckyJson(["backup", "target", "add", "usb", usb, "--home", nas.home, "--no-backup"]);
    // Before, the nas said the laptop was backed up there (from the laptop's own word of
    // the old disk), and the zone's reliability high, until the laptop came back.
    const status = await buckyJson<Status>(["status", "--home", nas.home]);
    const said = status.backups.find((b) => b.device === "laptop" && b.target === "usb");
    expect(said?.lastBackup ?? null).toBeNull();
    expect(status.reliability.notes).toContainEqual(
      expect.objectContaining({ kind: "no-backup", device: "laptop" }),
    );
  }, 60_000);
});
