/**
 * Disaster recovery, end to end, against a real SFTP server: a zone with the notes app
 * backs up off-site; the box is lost; on a new box the recovery phrase and the target
 * bring back the zone, the app and its notes, and the changes made after the snapshot
 * (shipped hot). A zone of two devices whose app ran on the second: both lost, a new box
 * brings the app back with its data. And the daemon's own schedule of backups and verifies.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  appFetch,
  bucky,
  buckyJson,
  cleanUp,
  type Daemon,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  waitFor,
} from "./harness.ts";
import { hotKeys } from "./hot-keys.ts";
import { type Sshd, startSshd } from "./sshd.ts";

afterAll(cleanUp);

const FAST = { BUCKY_CONVERGE_INTERVAL_MS: "300", BUCKY_HEARTBEAT_MS: "1000" };
const NOTES = resolve(import.meta.dir, "../fixtures/apps/notes");

let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(async () => {
  await sshd?.stop();
});

async function runningNotes(home: string): Promise<string> {
  const status = await waitFor(
    "notes to run",
    async () => {
      const s = await buckyJson<{ state: string; url: string | null }>([
        "app",
        "status",
        "notes",
        "--home",
        home,
      ]).catch(() => undefined);
      return s?.state === "running" && s.url ? s : undefined;
    },
    30_000,
  );
  return status.url as string;
}

describe("the whole zone back from 24 words and an off-site target", () => {
  test("an app and its notes, and the zone state up to seconds before the loss", async () => {
    const lost = newHomePath();
    const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
      "init",
      "--home",
      lost,
      "--device",
      "nas",
    ]);
    const daemon = await startDaemon(lost, FAST);
    await buckyJson(["app", "install", NOTES, "--home", lost]);
    const url = await runningNotes(lost);
    const created = await appFetch(url, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text: "the boiler code is 4711" }),
    });
    expect(created.status).toBe(201);

    const repo = `${sshd.root}/offsite`;
    const target = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${repo}`;
    const added = await buckyJson<{ hostKey: string }>([
      "backup",
      "target",
      "add",
      "offsite",
      target,
      "--identity",
      sshd.identityFile,
      "--home",
      lost,
    ]);
    expect(added.hostKey).toBe(sshd.hostKey);
    await buckyJson(["backup", "run", "--home", lost]);

    // After the snapshot: a change the hot backup ships within seconds.
    await buckyJson(["state", "set", "after/snapshot", '"shipped hot"', "--home", lost]);
    await waitFor("the change to be shipped", async () =>
      (await hotKeys(repo, lost)).includes("after/snapshot") ? true : undefined,
    );
    await daemon.kill(); // the box is lost

    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--home", fresh], { stdin: `${recoveryPhrase}\n` });
    const restored = await buckyJson<{ files: number; replayedChangesets: number }>([
      "backup",
      "restore",
      "latest",
      "--from",
      target,
      "--identity",
      sshd.identityFile,
      "--home",
      fresh,
    ]);
    expect(restored.files).toBeGreaterThan(0);
    expect(restored.replayedChangesets).toBeGreaterThanOrEqual(1);

    await startDaemon(fresh, FAST);
    const again = await runningNotes(fresh);
    const notes = (await (await appFetch(again, "/api/notes")).json()) as {
      notes: { text: string }[];
    };
    expect(notes.notes.map((n) => n.text)).toEqual(["the boiler code is 4711"]);
    expect(
      await buckyJson<{ value: unknown }>(["state", "get", "after/snapshot", "--home", fresh]),
    ).toMatchObject({
      value: "shipped hot",
    });
    // And it backs up there again, for the zone, with the key it was restored with, which
    // no snapshot holds (before: "no SSH key to log in with", for every device's backups).
    const backedUp = await buckyJson<{ target: string }>(["backup", "run", "--home", fresh]);
    expect(backedUp.target).toBe("offsite");
    // Its key lost all the same (its file of connections gone): given again by adding the
    // target as it is, with it; the zone's record of it, and of its backups, stays.
    rmSync(join(fresh, "backup", "targets.json"));
    const keyless = await bucky(["backup", "run", "--home", fresh, "--json"]);
    expect(jsonError(keyless).message).toContain("no SSH key to log in with");
    const keyed = await buckyJson<{ keyChanged?: boolean; hostKey: string }>([
      ...["backup", "target", "add", "offsite", target],
      ...["--identity", sshd.identityFile, "--home", fresh],
    ]);
    expect(keyed).toMatchObject({ keyChanged: true, hostKey: sshd.hostKey });
    await buckyJson(["backup", "run", "--home", fresh]);
  }, 90_000);

  test("a wrong phrase recovers another zone, which cannot open the backup", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    const other = newHomePath();
    await buckyJson(["init", "--home", other]);
    const result = await bucky([
      "backup",
      "restore",
      "latest",
      "--from",
      repo,
      "--home",
      other,
      "--json",
    ]);
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stderr).error.message).toContain("another recovery phrase");
  });
});

describe("a zone of two devices, both lost", () => {
  test("a new box brings back the app that ran on the second device, with its data", async () => {
    const nasHome = newHomePath();
    const { recoveryPhrase } = await buckyJson<{ recoveryPhrase: string }>([
      "init",
      "--home",
      nasHome,
      "--device",
      "nas",
    ]);
    const nas = await startDaemon(nasHome, FAST);
    const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
    const laptopHome = newHomePath();
    await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
    const laptop = await startDaemon(laptopHome, FAST);
    const repo = join(scratchDir(), "usb");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
    // The notes app, placed on any device, runs on the laptop (moved there): its data is on
    // the laptop, its only copy on the NAS.
    await buckyJson(["app", "install", NOTES, "--home", laptop.home]);
    await buckyJson(["app", "move", "notes", "--to", "laptop", "--home", laptop.home]);
    const url = await runningNotes(laptop.home);
    const created = await appFetch(url, "/api/notes", {
      method: "POST",
      body: JSON.stringify({ text: "kept on the laptop" }),
    });
    expect(created.status).toBe(201);
    await waitFor("the laptop to see the target", async () =>
      (await buckyJson<{ targets: unknown[] }>(["backup", "target", "list", "--home", laptop.home]))
        .targets.length > 0
        ? true
        : undefined,
    );
    // The laptop's own files (its data/: what an agent there wrote): in its snapshot alone.
    mkdirSync(join(laptop.home, "data"), { recursive: true });
    writeFileSync(join(laptop.home, "data", "summary.md"), "written on the laptop\n");
    // Each backs up its own home; the NAS's snapshot is the newer.
    await buckyJson(["backup", "run", "--home", laptop.home]);
    await buckyJson(["backup", "run", "--home", nas.home]);
    // A change after both snapshots, made on the laptop: shipped hot, through the NAS.
    await buckyJson([
      "state",
      "set",
      "after/snapshots",
      '"from the laptop"',
      "--home",
      laptop.home,
    ]);
    await waitFor("the change to be shipped", async () =>
      (await hotKeys(repo, nas.home)).includes("after/snapshots") ? true : undefined,
    );
    await Promise.all([nas.kill(), laptop.kill()]); // both lost

    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--device", "newbox", "--home", fresh], {
      stdin: `${recoveryPhrase}\n`,
    });
    const restored = await buckyJson<{
      device: string;
      apps: { app: string; device: string }[];
      otherDevicesData: { device: string; snapshot: string }[];
      replayedChangesets: number;
      replacedKeptIn: string | null;
    }>(["backup", "restore", "latest", "--from", repo, "--home", fresh]);
    expect(restored.device).toBe("nas");
    // A box just recovered had nothing of its own to set aside: none is kept.
    expect(restored.replacedKeptIn).toBeNull();
    expect(readdirSync(fresh).filter((name) => name.startsWith(".replaced-"))).toEqual([]);
    // The laptop's own files are not made this box's, but said, with where they are.
    expect(restored.otherDevicesData).toEqual([
      { device: "laptop", snapshot: expect.stringMatching(/^[0-9a-f]{32}$/) },
    ]);
    expect(existsSync(join(fresh, "data", "summary.md"))).toBe(false);
    const laptopFiles = join(scratchDir(), "laptop-files");
    await buckyJson([
      ...["backup", "restore", restored.otherDevicesData[0]?.snapshot.slice(0, 8) as string],
      ...["--path", "data", "--to", laptopFiles, "--from", repo, "--home", fresh],
    ]);
    expect(readFileSync(join(laptopFiles, "data", "summary.md"), "utf8")).toBe(
      "written on the laptop\n",
    );
    expect(restored.apps).toEqual([expect.objectContaining({ app: "notes", device: "laptop" })]);
    expect(restored.replayedChangesets).toBeGreaterThanOrEqual(1);
    // The laptop's data came back as this box's copy of the app: the laptop holds it still.
    expect(existsSync(join(fresh, "replicas", "notes", "replica.db"))).toBe(true);

    // The box is the NAS now. The laptop, which held the app's data, is not heard from: the
    // box takes the app over from that copy by itself, as a standby would.
    await startDaemon(fresh, FAST);
    const status = await waitFor(
      "the box to take the app over",
      async () => {
        const now = await buckyJson<{
          device: string;
          state: string;
          url: string;
          data: { holder: { device: string; lostAtMostMs: number | null } };
        }>(["app", "status", "notes", "--home", fresh]);
        return now.device === "nas" && now.state === "running" && now.data.holder.device === "nas"
          ? now
          : undefined;
      },
      30_000,
    );
    const again = status.url;
    const notes = (await (await appFetch(again, "/api/notes")).json()) as {
      notes: { text: string }[];
    };
    expect(notes.notes.map((n) => n.text)).toEqual(["kept on the laptop"]);
    expect(
      await buckyJson<{ value: unknown }>(["state", "get", "after/snapshots", "--home", fresh]),
    ).toMatchObject({ value: "from the laptop" });
  }, 120_000);
});

describe("the daemon's schedule", () => {
  test("backs up and verifies by itself, and says so in status", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    await buckyJson([
      "backup",
      "target",
      "add",
      "usb",
      join(scratchDir(), "repo"),
      "--home",
      home,
      "--no-backup",
    ]);
    const daemon: Daemon = await startDaemon(home, {
      BUCKY_BACKUP_EVERY_MS: "1500",
      BUCKY_VERIFY_EVERY_MS: "3000",
    });
    const status = await waitFor(
      "a scheduled backup and verify",
      async () => {
        const s = await buckyJson<{
          backups: { lastBackup: unknown; lastVerify: { ok: boolean } | null }[];
          reliability: { level: number };
        }>(["status", "--home", home]);
        return s.backups[0]?.lastBackup && s.backups[0]?.lastVerify ? s : undefined;
      },
      30_000,
    );
    expect(status.reliability.level).toBe(1);
    expect(status.backups[0]?.lastVerify?.ok).toBe(true);
    const { snapshots } = await buckyJson<{ snapshots: unknown[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(snapshots.length).toBeGreaterThanOrEqual(1);
    expect(await daemon.stop()).toBe(0);
  }, 60_000);
});
