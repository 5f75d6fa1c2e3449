/**
 * Backups end to end, through `dist/bucky`: a generated tree backed up, changed, backed
 * up again and every snapshot restored byte for byte; and the faults a real target sees:
 * a wrong phrase, a flipped byte, a missing pack, a full disk, a run killed half way, two
 * runs at once, a file that will not hold still.
 */

import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { checkPhrase } from "../protocol/phrase.ts";
import { generateTree } from "./generated-tree.ts";
import {
  BUCKY,
  bucky,
  buckyJson,
  cleanUp,
  jsonError,
  newHomePath,
  scratchDir,
  startDaemon,
  stopProcess,
  waitFor,
  withTmpfs,
} from "./harness.ts";

afterAll(cleanUp);

const TREE_BYTES = 200 * 1024 * 1024;

interface RunJson {
  snapshot: string;
  files: number;
  bytes: number;
  addedBytes: number;
  storedBytes: number;
  durationMs: number;
  changing: string[];
}

/** What a directory holds, file by file: content hash, mode, mtime (ms) or link target. */
function manifest(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const key = rel ? `${rel}/${name}` : name;
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) out[key] = `link ${readlinkSync(path)}`;
      else if (stat.isDirectory()) {
        out[`${key}/`] = `dir ${(stat.mode & 0o7777).toString(8)}`;
        walk(path, key);
      } else
        out[key] =
          `${createHash("sha256").update(readFileSync(path)).digest("hex")} ${(stat.mode & 0o7777).toString(8)} ${millisecondsOf(path)}`;
    }
  };
  walk(root, "");
  return out;
}

/**
 * A file's modification time in whole milliseconds, from its nanoseconds: `mtimeMs` is a
 * double, which rounds …896.9999997 up to 897, while a restore keeps the time to the
 * microsecond (896.999): the test failed on such a file, the restore was right.
 */
function millisecondsOf(path: string): bigint {
  return lstatSync(path, { bigint: true }).mtimeNs / 1_000_000n;
}

async function newHome(): Promise<{ home: string; phrase: string }> {
  const home = newHomePath();
  const made = await buckyJson<{ recoveryPhrase: string }>([
    "init",
    "--home",
    home,
    "--device",
    "box",
  ]);
  return { home, phrase: made.recoveryPhrase };
}

/** Whether `bucky backup verify --read-data` finds every blob of every snapshot whole. */
async function readsBackWhole(home: string): Promise<boolean> {
  return (await buckyJson<{ ok: boolean }>(["backup", "verify", "--read-data", "--home", home])).ok;
}

function packs(repo: string): string[] {
  return readdirSync(join(repo, "data")).flatMap((dir) =>
    readdirSync(join(repo, "data", dir)).map((name) => join(repo, "data", dir, name)),
  );
}

describe("a generated tree: backed up, changed, backed up, every snapshot restored", () => {
  let home: string;
  let repo: string;
  const states: Record<string, string>[] = [];
  const snapshots: RunJson[] = [];

  beforeAll(async () => {
    ({ home } = await newHome());
    repo = join(scratchDir(), "repo");
    const data = join(home, "data");
    mkdirSync(data);
    generateTree(data, TREE_BYTES);
    mkdirSync(join(data, "empty dir"));
    writeFileSync(join(data, "empty file"), "");
    writeFileSync(join(data, "private.txt"), "mine", { mode: 0o600 });
    symlinkSync("documents/work", join(data, "work link"));
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    states.push(manifest(data));
    snapshots.push(await buckyJson<RunJson>(["backup", "run", "--home", home]));

    // A day's changes: one file edited, one removed, one added, one renamed.
    const text = readdirSync(join(data, "notes")).find((n) => n.startsWith("text-")) as string;
    appendFileSync(join(data, "notes", text), "\nan edit at the end\n");
    const gone = readdirSync(join(data, "music"))[0] as string;
    rmSync(join(data, "music", gone));
    writeFileSync(join(data, "notes", "new.txt"), "written after the first backup\n");
    cpSync(join(data, "photos"), join(data, "pictures"), {
      recursive: true,
      preserveTimestamps: true,
    });
    rmSync(join(data, "photos"), { recursive: true });
    states.push(manifest(data));
    snapshots.push(await buckyJson<RunJson>(["backup", "run", "--home", home]));
  }, 120_000);

  test("a run reports its snapshot in the documented shape", () => {
    const first = snapshots[0] as RunJson;
    expect(Object.keys(first)).toEqual(
      expect.arrayContaining(["snapshot", "files", "bytes", "addedBytes", "durationMs"]),
    );
    expect(first.snapshot).toMatch(/^[0-9a-f]{32}$/);
    expect(first.bytes).toBeGreaterThan(TREE_BYTES);
    // Duplicated files are stored once, and text compresses.
    expect(first.storedBytes).toBeLessThan(first.bytes * 0.9);
  });

  test("the second run stores only what changed", () => {
    const [first, second] = snapshots as [RunJson, RunJson];
    expect(second.files).toBeGreaterThan(0);
    expect(second.addedBytes).toBeLessThan(first.addedBytes / 20);
  });

  test("the repository holds no plaintext of what it backs up", () => {
    const secret = Buffer.from("written after the first backup");
    for (const pack of packs(repo)) expect(readFileSync(pack).includes(secret)).toBe(false);
  });

  test("list shows both snapshots, oldest first", async () => {
    const { snapshots: listed } = await buckyJson<{
      snapshots: { id: string; time: string; files: number; bytes: number }[];
    }>(["backup", "list", "--home", home]);
    expect(listed.map((s) => s.id)).toEqual(snapshots.map((s) => s.snapshot));
    expect(listed[0]).toMatchObject({ files: snapshots[0]?.files, bytes: snapshots[0]?.bytes });
  });

  test("each snapshot restores byte for byte, with modes, times and links", async () => {
    for (const [i, run] of snapshots.entries()) {
      const to = join(scratchDir(), `restored-${i}`);
      const restored = await buckyJson<{ files: number; damaged: string[] }>([
        "backup",
        "restore",
        run.snapshot.slice(0, 8),
        "--to",
        to,
        "--home",
        home,
      ]);
      expect(restored.damaged).toEqual([]);
      expect(manifest(join(to, "data"))).toEqual(states[i] as Record<string, string>);
      expect(existsSync(join(to, "state.db"))).toBe(true);
      // The device key only sealed to the owner (every member holds the backup key).
      expect(existsSync(join(to, "identity", "device.key.sealed"))).toBe(true);
      expect(existsSync(join(to, "identity", "device.key"))).toBe(false);
      // The keys the phrase rebuilds are never in a backup.
      expect(existsSync(join(to, "identity", "owner.key"))).toBe(false);
    }
  }, 60_000);

  test("--path restores one directory of a snapshot", async () => {
    const to = join(scratchDir(), "one-dir");
    await buckyJson([
      "backup",
      "restore",
      "latest",
      "--to",
      to,
      "--path",
      "data/notes",
      "--home",
      home,
    ]);
    expect(readdirSync(to)).toEqual(["data"]);
    expect(readFileSync(join(to, "data", "notes", "new.txt"), "utf8")).toBe(
      "written after the first backup\n",
    );
  });

  test("a snapshot named by what is no id is refused, not taken for one", async () => {
    for (const which of ["", "ZZ", "../x"]) {
      const to = join(scratchDir(), "none");
      const result = await bucky([
        ...["backup", "restore", which, "--to", to, "--home", home, "--json"],
      ]);
      expect([which, result.exitCode, jsonError(result).message]).toEqual([
        which,
        2,
        `${JSON.stringify(which)} is not a snapshot id (nor "latest")`,
      ]);
      expect(existsSync(to)).toBe(false);
    }
  });

  test("verify --read-data reads everything back and finds it sound", async () => {
    const result = await buckyJson<{ ok: boolean; checkedBlobs: number; damaged: unknown[] }>([
      "backup",
      "verify",
      "--read-data",
      "--home",
      home,
    ]);
    expect(result).toMatchObject({ ok: true, damaged: [] });
    expect(result.checkedBlobs).toBeGreaterThan(50);
  });

  test("restoring into a directory that is not empty is refused, unless --force", async () => {
    const to = join(scratchDir(), "busy");
    mkdirSync(to);
    writeFileSync(join(to, "keep.txt"), "mine");
    const refused = await bucky([
      "backup",
      "restore",
      "latest",
      "--to",
      to,
      "--home",
      home,
      "--json",
    ]);
    expect(refused.exitCode).toBe(1);
    expect(jsonError(refused).code).toBe("E_EXISTS");
    expect(readdirSync(to)).toEqual(["keep.txt"]);
    await buckyJson([
      "backup",
      "restore",
      "latest",
      "--to",
      to,
      "--force",
      "--path",
      "data/notes",
      "--home",
      home,
    ]);
    expect(readdirSync(to).sort()).toEqual(["data", "keep.txt"]);
  });

  test("a home of another zone cannot open the backup: wrong phrase, nothing restored", async () => {
    const stranger = await newHome();
    const to = join(scratchDir(), "stranger");
    const result = await bucky([
      "backup",
      "restore",
      "latest",
      "--from",
      repo,
      "--to",
      to,
      "--home",
      stranger.home,
      "--json",
    ]);
    expect(result.exitCode).toBe(1);
    expect(jsonError(result)).toMatchObject({ code: "E_PERMISSION" });
    expect(jsonError(result).message).toContain("another recovery phrase");
    expect(existsSync(to)).toBe(false);
  });

  test("a flipped byte: verify names the snapshots and files, the rest still restores", async () => {
    const damagedRepo = join(scratchDir(), "damaged");
    cpSync(repo, damagedRepo, { recursive: true });
    const biggest = packs(damagedRepo).sort(
      (a, b) => lstatSync(b).size - lstatSync(a).size,
    )[0] as string;
    const bytes = readFileSync(biggest);
    // In the middle of a pack: within a file's chunk (trees are a tiny share of the bytes).
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0xff;
    writeFileSync(biggest, bytes);
    const verify = await bucky([
      "backup",
      "verify",
      "--read-data",
      "--target",
      damagedRepo,
      "--home",
      home,
      "--json",
    ]);
    expect(verify.exitCode).toBe(4);
    type Damage = { snapshots: { id: string; files: string[] }[] };
    const report = JSON.parse(verify.stdout) as { ok: boolean; damaged: Damage[] };
    expect(report.ok).toBe(false);
    expect(report.damaged).toHaveLength(1);
    const where = (report.damaged[0] as Damage).snapshots[0] as { id: string; files: string[] };
    expect(where.files.length).toBeGreaterThan(0);
    const text = await bucky([
      "backup",
      "verify",
      "--read-data",
      "--target",
      damagedRepo,
      "--home",
      home,
    ]);
    expect(text.stdout).toContain(`snapshot ${where.id.slice(0, 8)}: ${where.files[0]}`);

    const to = join(scratchDir(), "partly");
    const restore = await bucky([
      "backup",
      "restore",
      where.id,
      "--from",
      damagedRepo,
      "--to",
      to,
      "--home",
      home,
      "--json",
    ]);
    expect(restore.exitCode).toBe(4);
    const restored = JSON.parse(restore.stdout) as { damaged: string[]; files: number };
    expect(restored.damaged.map((p) => p.slice(to.length))).toEqual(where.files);
    // Every other file came back whole.
    const i = snapshots.findIndex((s) => s.snapshot === where.id);
    const expected = states[i] as Record<string, string>;
    const got = manifest(join(to, "data"));
    const damagedHere = new Set(restored.damaged.map((p) => p.slice(join(to, "data").length + 1)));
    for (const [path, fact] of Object.entries(expected))
      if (!damagedHere.has(path)) expect(got[path]).toBe(fact);
  }, 60_000);

  test("a missing pack is found by verify --read-data", async () => {
    const broken = join(scratchDir(), "missing");
    cpSync(repo, broken, { recursive: true });
    rmSync(packs(broken)[0] as string);
    const verify = await bucky([
      "backup",
      "verify",
      "--read-data",
      "--target",
      broken,
      "--home",
      home,
      "--json",
    ]);
    expect(verify.exitCode).toBe(4);
    const report = JSON.parse(verify.stdout) as { damaged: { problem: string }[] };
    expect(report.damaged.length).toBeGreaterThan(0);
    expect(report.damaged[0]?.problem).toContain("missing");
  });
});

describe("faults while backing up", () => {
  test("the sealing threads run the binary's own code, never a file of the directory bucky runs in", async () => {
    const { home } = await newHome();
    generateTree(join(home, "data"), 2 * 1024 * 1024);
    const here = scratchDir();
    const planted = join(here, "ran");
    for (const name of ["seal-worker.ts", "seal-worker.js"]) {
      mkdirSync(join(here, "lib", "backup"), { recursive: true });
      writeFileSync(
        join(here, "lib", "backup", name),
        `require("node:fs").writeFileSync(${JSON.stringify(planted)}, "planted code ran");`,
      );
    }
    const run = (args: string[]) => bucky([...args, "--home", home, "--json"], { cwd: here });
    const repo = join(scratchDir(), "repo");
    expect((await run(["backup", "target", "add", "usb", repo, "--no-backup"])).exitCode).toBe(0);
    const backedUp = await run(["backup", "run"]);
    expect([backedUp.exitCode, backedUp.stderr]).toEqual([0, ""]);
    expect(existsSync(planted)).toBe(false);
    expect(await readsBackWhole(home)).toBe(true);
  });

  test("a target removed with no daemon running is removed in the home, held by no other device in a zone of one", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    expect(await buckyJson(["backup", "target", "rm", "usb", "--home", home])).toEqual({
      removed: "usb",
      url: repo,
      heldElsewhere: "alone",
    });
    expect(await buckyJson(["backup", "target", "list", "--home", home])).toMatchObject({
      targets: [],
    });
  });

  test("a damaged targets file: commands say how to mend it; the daemon keeps on without backups", async () => {
    const { home } = await newHome();
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
    writeFileSync(join(home, "backup", "targets.json"), "{not json");
    const daemon = await startDaemon(home);
    const refused = await bucky(["backup", "run", "--home", home, "--json"]);
    expect(refused.exitCode).toBe(4);
    expect(jsonError(refused)).toMatchObject({
      code: "E_INTEGRITY",
      hint: expect.stringContaining("bucky backup target add"),
    });
    await buckyJson(["state", "set", "notes/a", "1", "--home", home]);
    expect(daemon.log()).toContain("backups stopped");
    await daemon.stop();
  });

  test("a target whose disk is not there: refused as unavailable, and nothing made in its place", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "usb", "bucky");
    // Added where its parent is not there (a typo, a disk not mounted): nothing is made.
    const typo = await bucky([
      ...["backup", "target", "add", "usb", repo, "--home", home, "--no-backup", "--json"],
    ]);
    expect([typo.exitCode, jsonError(typo).message]).toEqual([
      2,
      `the backup target ${repo} cannot be made: ${dirname(repo)} does not exist`,
    ]);
    expect(existsSync(dirname(repo))).toBe(false);
    mkdirSync(dirname(repo));
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    renameSync(repo, `${repo}.away`); // unplugged

    const gone = await bucky(["backup", "run", "--home", home, "--json"]);
    expect(gone.exitCode).toBe(3);
    expect(jsonError(gone).message).toContain("is its disk plugged in and mounted?");
    expect(existsSync(repo)).toBe(false);
    // A mount point left empty: no new repository appears in it either.
    mkdirSync(repo);
    const empty = await bucky(["backup", "run", "--home", home, "--json"]);
    expect(empty.exitCode).toBe(3);
    expect(readdirSync(repo)).toEqual([]);

    rmSync(repo, { recursive: true });
    renameSync(`${repo}.away`, repo); // back
    await buckyJson(["backup", "run", "--home", home]);
    const { snapshots } = await buckyJson<{ snapshots: unknown[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(snapshots).toHaveLength(2);
  });

  test("a damaged state database: said as such, and a restore in place brings the home back", async () => {
    const { home } = await newHome();
    const { zone } = await buckyJson<{ zone: { id: string } }>(["status", "--home", home]);
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
    await buckyJson(["backup", "run", "--home", home]);
    const db = join(home, "state.db");
    writeFileSync(db, Buffer.concat([Buffer.alloc(100, 0xff), readFileSync(db).subarray(100)]));

    const damaged = await bucky(["status", "--home", home, "--json"]);
    expect(damaged.exitCode).toBe(4);
    expect(jsonError(damaged)).toMatchObject({
      code: "E_INTEGRITY",
      hint: expect.stringContaining("bucky backup restore latest"),
    });
    mkdirSync(join(home, ".restore-0badf00d", "data"), { recursive: true }); // an earlier one, killed
    await buckyJson(["backup", "restore", "latest", "--home", home]);
    const back = await buckyJson<{ zone: { id: string } }>(["status", "--home", home]);
    expect(back.zone.id).toBe(zone.id);
    expect(readdirSync(home).filter((name) => name.startsWith(".restore-"))).toEqual([]);
  });

  test("a home rolled back keeps what it replaced aside, whole, and says where", async () => {
    const { home } = await newHome();
    const target = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", target, "--home", home, "--no-backup"]);
    mkdirSync(join(home, "data"), { recursive: true });
    writeFileSync(join(home, "data", "diary.txt"), "as backed up");
    await buckyJson(["backup", "run", "--home", home]);
    writeFileSync(join(home, "data", "diary.txt"), "written since");
    writeFileSync(join(home, "data", "new.txt"), "made since");

    const rolledBack = await buckyJson<{ to: string; replacedKeptIn: string | null }>([
      "backup",
      "restore",
      "latest",
      "--home",
      home,
    ]);
    const kept = rolledBack.replacedKeptIn as string;
    expect(kept.startsWith(join(home, ".replaced-"))).toBe(true);
    expect(readFileSync(join(home, "data", "diary.txt"), "utf8")).toBe("as backed up");
    expect(existsSync(join(home, "data", "new.txt"))).toBe(false);
    expect(
      ["diary.txt", "new.txt"].map((name) => readFileSync(join(kept, "data", name), "utf8")),
    ).toEqual(["written since", "made since"]);
    // The zone state it replaced is kept too, and still opens.
    const replacedState = new Database(join(kept, "state.db"), { readonly: true });
    expect(replacedState.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    replacedState.close();
    const text = await bucky(["backup", "restore", "latest", "--home", home]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toContain("What the home held before is kept in");
  });

  test("a full target: a clear error, and what it holds stays valid", async () => {
    const { home } = await newHome();
    generateTree(join(home, "data"), 40 * 1024 * 1024);
    await withTmpfs("size=12m", async (mount) => {
      const target = join(mount, "repo");
      await buckyJson(["backup", "target", "add", "usb", target, "--home", home, "--no-backup"]);
      const result = await bucky(["backup", "run", "--home", home, "--json"]);
      expect(result.exitCode).toBe(1);
      expect(jsonError(result)).toMatchObject({ code: "E_IO" });
      expect(jsonError(result).message).toContain("full");
      expect(await readsBackWhole(home)).toBe(true);
      const status = await buckyJson<{ reliability: { level: number; warnings: string[] } }>([
        "status",
        "--home",
        home,
      ]);
      expect(status.reliability.level).toBe(0);
      expect(status.reliability.warnings.join(" ")).toContain("failed");
    });
  }, 60_000);

  test("a damaged blob that verify found is stored again by the next run, which heals every snapshot", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    generateTree(join(home, "data"), 4 * 1024 * 1024);
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    // The target damages a pack, within a chunk of a file of data/, which does not change
    // (the state database's image does, at every run: its old chunks are gone from the home).
    type Verified = { damaged: { snapshots: { files: string[] }[] }[] };
    const biggest = packs(repo).sort((a, b) => lstatSync(b).size - lstatSync(a).size)[0] as string;
    const damagedFiles = async (fraction: number) => {
      const bytes = readFileSync(biggest);
      const at = Math.floor(bytes.length * fraction);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      writeFileSync(biggest, bytes);
      const found = await bucky(["backup", "verify", "--read-data", "--home", home, "--json"]);
      expect(found.exitCode).toBe(4);
      const files = (JSON.parse(found.stdout) as Verified).damaged.flatMap((d) =>
        d.snapshots.flatMap((s) => s.files),
      );
      if (files.length > 0 && files.every((f) => f.startsWith("/data/"))) return files;
      bytes[at] = (bytes[at] as number) ^ 0xff; // elsewhere: put back, and try another place
      writeFileSync(biggest, bytes);
      return undefined;
    };
    let files: string[] | undefined;
    for (const fraction of [0.5, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9]) {
      files = await damagedFiles(fraction);
      if (files) break;
    }
    expect(files?.length).toBeGreaterThan(0);
    // As verify says: the next run stores the damaged data again, though its files did not change.
    await buckyJson(["backup", "run", "--home", home]);
    expect(await readsBackWhole(home)).toBe(true);
    // A prune keeps the copy that opens, not the damaged one, whichever the index chose; and
    // the next prune finds it still there.
    for (let i = 0; i < 2; i++) {
      await buckyJson(["backup", "prune", "--home", home]);
      expect(await readsBackWhole(home)).toBe(true);
    }
    const to = join(scratchDir(), "healed");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(manifest(join(to, "data"))).toEqual(manifest(join(home, "data")));
  }, 60_000);

  test("a target that takes no writes, full or read-only, still verifies and restores", async () => {
    const { home } = await newHome();
    generateTree(join(home, "data"), 2 * 1024 * 1024);
    await withTmpfs("size=8m", async (mount) => {
      const target = join(mount, "repo");
      await buckyJson(["backup", "target", "add", "usb", target, "--home", home, "--no-backup"]);
      await buckyJson(["backup", "run", "--home", home]);
      const restores = async (what: string) => {
        expect(await readsBackWhole(home)).toBe(true);
        const to = join(scratchDir(), what);
        await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
        expect(manifest(join(to, "data"))).toEqual(manifest(join(home, "data")));
      };
      // Filled by something else: not a byte left, not even for a lock file.
      const filled = spawnSync("dd", ["if=/dev/zero", `of=${join(mount, "fill")}`, "bs=1M"]);
      expect(filled.stderr.toString()).toContain("No space left");
      await restores("from-full");
      rmSync(join(mount, "fill"));
      // A disk write-protected, or mounted read-only for safety.
      expect(spawnSync("mount", ["-o", "remount,ro", mount]).status).toBe(0);
      await restores("from-read-only");
    });
  }, 60_000);

  test("killed half way: the repository stays valid, and the next run finishes, reusing what was stored", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    generateTree(join(home, "data"), 80 * 1024 * 1024);
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const child = Bun.spawn([BUCKY, "backup", "run", "--home", home], {
      stdout: "ignore",
      stderr: "ignore",
    });
    // Wait until some packs (and their index) are written, then pull the plug.
    const deadline = Date.now() + 20_000;
    while (
      Date.now() < deadline &&
      (!existsSync(join(repo, "index")) || readdirSync(join(repo, "index")).length < 2)
    )
      await Bun.sleep(5);
    child.kill("SIGKILL");
    await child.exited;
    expect(child.signalCode).toBe("SIGKILL");
    const stored = readdirSync(join(repo, "index")).length;
    expect(stored).toBeGreaterThanOrEqual(2);

    expect(await readsBackWhole(home)).toBe(true);
    const rerun = await buckyJson<RunJson>(["backup", "run", "--home", home]);
    expect(rerun.addedBytes).toBeLessThan(rerun.bytes);
    const to = join(scratchDir(), "after-kill");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(manifest(join(to, "data"))).toEqual(manifest(join(home, "data")));

    // A write cut off leaves its temporary file, in no listing: a pack's can be 16 MiB, and
    // an SFTP connection lost mid-write leaves one too. Planted as well, as the kill may
    // have come between writes: the prune clears them all.
    writeFileSync(join(repo, "index", ".tmp-0123456789ab"), randomBytes(1024));
    const packDir = dirname(packs(repo)[0] as string);
    writeFileSync(join(packDir, ".tmp-ba9876543210"), randomBytes(64 * 1024));
    const temporaries = () =>
      ["data", "index", "snapshots"].flatMap((dir) =>
        (readdirSync(join(repo, dir), { recursive: true }) as string[]).filter((name) =>
          basename(name).startsWith(".tmp-"),
        ),
      );
    expect(temporaries().length).toBeGreaterThanOrEqual(2);
    await buckyJson(["backup", "prune", "--home", home]);
    expect(temporaries()).toEqual([]);
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("a backup paused past its lock (a laptop asleep) while a prune ran files no snapshot of removed data", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    generateTree(join(home, "data"), 80 * 1024 * 1024);
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const child = Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Paused once it has stored some of its packs.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (!existsSync(join(repo, "index")) || packs(repo).length < 2))
      await Bun.sleep(5);
    child.kill("SIGSTOP");
    expect(packs(repo).length).toBeGreaterThanOrEqual(2);
    // Ten minutes on, its lock looks stale: the prune takes the repository and removes
    // what no snapshot needs, its packs among them.
    const pruned = await buckyJson<{ removedPacks: number }>(["backup", "prune", "--home", home], {
      env: { BUCKY_CLOCK_OFFSET_MS: String(10 * 60_000) },
    });
    expect(pruned.removedPacks).toBeGreaterThan(0);
    child.kill("SIGCONT");
    const exitCode = await child.exited;
    // It says its repository was taken from it, and files no snapshot; the next run is whole.
    expect(exitCode).toBe(3);
    expect(await new Response(child.stderr).text()).toContain("a prune took it over");
    expect(existsSync(join(repo, "snapshots")) ? readdirSync(join(repo, "snapshots")) : []).toEqual(
      [],
    );
    expect(await readsBackWhole(home)).toBe(true);
    await buckyJson(["backup", "run", "--home", home]);
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("a prune paused past its lock (a laptop asleep) while a backup went on deletes nothing after", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    generateTree(join(home, "data", "first"), 40 * 1024 * 1024);
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home]);
    generateTree(join(home, "data", "second"), 80 * 1024 * 1024);
    // The lock of a backup that died: the prune clears it as it takes the repository.
    const dead = join(repo, "locks", `shared-${"0".repeat(32)}`);
    writeFileSync(
      dead,
      JSON.stringify({
        hostname: hostname(),
        pid: 2 ** 22 + 1,
        purpose: "backup",
        refreshedAt: Date.now(),
      }),
    );
    const prune = Bun.spawn([BUCKY, "backup", "prune", "--home", home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Paused as soon as it holds the repository, before it deletes anything.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && existsSync(dead)) await Bun.sleep(1);
    expect(await stopProcess(prune.pid)).toBe("stopped");
    expect(readdirSync(join(repo, "locks"))).toEqual(["exclusive"]);
    // Ten minutes on, by the backup's clock, the prune's lock looks stale: the backup goes
    // on, and is paused in turn once it has stored packs no index names yet.
    const before = packs(repo).length;
    const backup = Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, BUCKY_CLOCK_OFFSET_MS: String(10 * 60_000) },
    });
    // A run's start and first packs take seconds more on a loaded machine (two test files at once).
    await waitFor(
      "the backup to store packs",
      () => packs(repo).length >= before + 2 || undefined,
      30_000,
    );
    backup.kill("SIGSTOP");
    prune.kill("SIGCONT");
    // It finds it may no longer hold the repository, and deletes nothing.
    expect(await prune.exited).toBe(3);
    expect(await new Response(prune.stderr).text()).toContain("it deleted nothing more");
    expect(packs(repo).length).toBeGreaterThanOrEqual(before + 2);
    backup.kill("SIGCONT");
    expect(await backup.exited).toBe(0);
    const to = join(scratchDir(), "after-prune");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(manifest(join(to, "data"))).toEqual(manifest(join(home, "data")));
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("two backups of this device started together: the second waits for the first and uploads nothing twice", async () => {
    const { home } = await newHome();
    generateTree(join(home, "data"), 40 * 1024 * 1024);
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const start = () =>
      Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
        stdout: "pipe",
        stderr: "pipe",
      });
    const runs = [start(), start()];
    const results = await Promise.all(
      runs.map(async (run) => {
        const [stdout, stderr] = [
          await new Response(run.stdout).text(),
          await new Response(run.stderr).text(),
        ];
        expect([await run.exited, stderr]).toEqual([0, expect.any(String)]);
        return JSON.parse(stdout) as RunJson & { storedBytes: number };
      }),
    );
    // One of them read and sent the files; the other, after it, only what changed (nothing).
    const stored = results.map((r) => r.storedBytes).sort((a, b) => a - b);
    expect(stored[0]).toBeLessThan(1024 * 1024);
    expect(stored[1]).toBeGreaterThan(20 * 1024 * 1024);
    const { snapshots } = await buckyJson<{ snapshots: unknown[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(snapshots).toHaveLength(2);
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("a second backup of this device while one is paused is refused at once, naming it, uploading nothing; killed, it leaves no lock", async () => {
    const { home } = await newHome();
    generateTree(join(home, "data"), 40 * 1024 * 1024);
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const first = Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Held once it stores its data, while the second is tried: at once, whatever the
    // machine's speed.
    await waitFor("the first backup to store a pack", () =>
      existsSync(join(repo, "data")) && packs(repo).length > 0 ? true : undefined,
    );
    first.kill("SIGSTOP");
    let stored: number;
    try {
      stored = packs(repo).length;
      const second = await bucky(["backup", "run", "--home", home, "--json"]);
      expect(second.exitCode).toBe(3);
      const error = jsonError(second);
      expect(error.code).toBe("E_UNAVAILABLE");
      expect(error.message).toStartWith("a backup of this device to usb is already running since ");
      expect(error.message).toContain(`(pid ${first.pid}), and is paused`);
      expect(error.hint).toContain(`kill -CONT ${first.pid}`);
      // It read and sent nothing: no pack of its own, no snapshot.
      expect(packs(repo).length).toBe(stored);
      expect(
        existsSync(join(repo, "snapshots")) ? readdirSync(join(repo, "snapshots")) : [],
      ).toEqual([]);
      // Not a failure of the target: the status shows none.
      const statusFile = join(home, "backup", "status.json");
      const status = existsSync(statusFile)
        ? (JSON.parse(readFileSync(statusFile, "utf8")) as Record<string, object>)
        : {};
      expect(status.usb ?? {}).not.toHaveProperty("lastBackupError");
    } finally {
      // Killed outright, as a power cut or the OOM killer would: its lock stays behind.
      first.kill("SIGKILL");
    }
    await first.exited;
    expect(readdirSync(join(home, "backup", "running"))).toEqual(["usb.json"]);
    const run = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]);
    expect(readdirSync(join(home, "backup", "running"))).toEqual([]);
    const { snapshots } = await buckyJson<{ snapshots: { id: string }[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(snapshots.map((s) => s.id)).toEqual([run.snapshot]);
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("the daemon's schedule leaves the target to a paused backup of this device, counting no failure, and backs up soon after it is ended", async () => {
    const { home } = await newHome();
    // Several packs' worth: paused after its first, it is far from done.
    generateTree(join(home, "data"), 96 * 1024 * 1024);
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    const byHand = Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
      stdout: "pipe",
      stderr: "pipe",
    });
    // Paused once it holds the target and uploads (long before it can finish): by then it
    // has taken its image of the zone state, so no lock of the database is held paused.
    // (Paused before, half way through that, the daemon could not open the database.)
    await waitFor(
      "the backup by hand to hold the target and upload",
      () =>
        existsSync(join(home, "backup", "running", "usb.json")) &&
        existsSync(join(repo, "data")) &&
        packs(repo).length > 0
          ? true
          : undefined,
      30_000,
    );
    byHand.kill("SIGSTOP");
    expect(byHand.exitCode).toBeNull();
    // A backup is due at once, and then every 20 s: the schedule looks every 5 s.
    const daemon = await startDaemon(home, { BUCKY_BACKUP_EVERY_MS: "20000" });
    try {
      await waitFor("the schedule to say it waits for the paused backup", () =>
        /scheduled backups wait for a paused backup of this device/.test(daemon.log()) ||
        /scheduled backup failed/.test(daemon.log())
          ? true
          : undefined,
      );
    } finally {
      // Ended as a person would end it: it leaves its lock, which the next run takes over.
      byHand.kill("SIGKILL");
    }
    await byHand.exited;
    const endedAt = Date.now();
    // Begun at the schedule's next look (5 s at most), not an interval (20 s) after a
    // failure it counted; and none recorded.
    type Status = Record<string, { lastBackup?: { at: string }; lastBackupError?: object }>;
    const statusFile = join(home, "backup", "status.json");
    const { usb } = await waitFor(
      "a scheduled backup once the paused one is ended",
      () => {
        const status = existsSync(statusFile)
          ? (JSON.parse(readFileSync(statusFile, "utf8")) as Status)
          : {};
        return status.usb?.lastBackup ? status : undefined;
      },
      30_000,
    );
    expect(Date.parse(usb?.lastBackup?.at ?? "") - endedAt).toBeLessThan(10_000);
    expect(usb).not.toHaveProperty("lastBackupError");
    expect(daemon.log()).not.toContain("scheduled backup failed");
    const { snapshots } = await buckyJson<{ snapshots: object[] }>([
      ...["backup", "list", "--home", home],
    ]);
    expect(snapshots).toHaveLength(1);
    await daemon.stop();
  }, 60_000);

  test("a backup while another of this device is paused recording what it read: refused at once, naming it, no snapshot filed", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    // Files enough that recording them takes a while: the window the first is paused in.
    for (let dir = 0; dir < 20; dir++) {
      mkdirSync(join(home, "data", String(dir)), { recursive: true });
      for (let file = 0; file < 200; file++)
        writeFileSync(join(home, "data", String(dir), `f${file}`), `${dir}/${file}`);
    }
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home]);
    const cacheDirs = readdirSync(join(home, "backup", "cache"));
    expect(cacheDirs).toHaveLength(1);
    const holder = join(home, "backup", "cache", cacheDirs[0] as string, "holder.json");
    const snapshots = () => readdirSync(join(repo, "snapshots")).length;
    // Paused while it holds the file cache (between taking it and recording into it): a
    // window of milliseconds, so looked for without a pause, and tried again if missed.
    let first: ReturnType<typeof Bun.spawn> | undefined;
    for (let attempt = 0; attempt < 20 && !first; attempt++) {
      const run = Bun.spawn([BUCKY, "backup", "run", "--home", home, "--json"], {
        stdout: "ignore",
        stderr: "ignore",
      });
      while (run.exitCode === null && !existsSync(holder)) {}
      if (run.exitCode !== null || (await stopProcess(run.pid)) === "exited") continue;
      if (existsSync(holder)) first = run;
      else {
        run.kill("SIGCONT");
        await run.exited;
      }
    }
    if (!first) throw new Error("never caught a backup holding the file cache");
    try {
      const before = snapshots();
      const started = Date.now();
      const second = await bucky(["backup", "run", "--home", home, "--json"]);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(second.exitCode).toBe(3);
      const error = jsonError(second);
      expect(error.code).toBe("E_UNAVAILABLE");
      // Refused before it reads anything: one backup of a device to a target at a time.
      expect(error.message).toContain(`a backup of this device to usb is already running since `);
      expect(error.message).toContain(`(pid ${first.pid}), and is paused`);
      expect(error.hint).toContain(`kill -CONT ${first.pid}`);
      expect(snapshots()).toBe(before);
    } finally {
      first.kill("SIGCONT");
    }
    expect(await first.exited).toBe(0);
    // Once it is let go, a backup goes through, and every snapshot reads back whole.
    await buckyJson(["backup", "run", "--home", home]);
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);

  test("a prune while a backup holds the repository is refused, naming it; a backup waits out a prune", async () => {
    const { home } = await newHome();
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    // A backup of this test's own process holds the repository.
    const lock = (purpose: string) =>
      JSON.stringify({ hostname: hostname(), pid: process.pid, purpose, refreshedAt: Date.now() });
    const shared = join(repo, "locks", `shared-${"a".repeat(32)}`);
    writeFileSync(shared, lock("backup"));
    const refused = await bucky(["backup", "prune", "--home", home, "--json"]);
    expect(refused.exitCode).toBe(3);
    expect(jsonError(refused).message).toContain(`busy: a backup runs on ${hostname()}`);
    rmSync(shared);

    // A prune holds it: a backup waits, and goes on once it is done.
    const exclusive = join(repo, "locks", "exclusive");
    writeFileSync(exclusive, lock("prune"));
    const waiting = Bun.spawn(
      [BUCKY, "backup", "run", "--home", home, "--json", "--log-level", "info"],
      { stdout: "pipe", stderr: "pipe" },
    );
    let said = "";
    const reader = (async () => {
      for await (const chunk of waiting.stderr) said += new TextDecoder().decode(chunk);
    })();
    await waitFor("the backup to say it waits", () =>
      said.includes("waiting for the repository") ? true : undefined,
    );
    expect(said).toContain("a prune runs on");
    expect(waiting.exitCode).toBeNull();
    rmSync(exclusive);
    expect(await waiting.exited).toBe(0);
    await reader;
    const pruned = await buckyJson<{ keptSnapshots: number }>(["backup", "prune", "--home", home]);
    expect(pruned.keptSnapshots).toBe(2);
  }, 60_000);

  test("a file that keeps changing while read is backed up as last read, and named", async () => {
    const { home } = await newHome();
    mkdirSync(join(home, "data"));
    const log = join(home, "data", "growing.log");
    writeFileSync(log, Buffer.alloc(30 * 1024 * 1024, 97));
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
    const writer = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const fs = require("node:fs"); const end = Date.now() + 8000; while (Date.now() < end) fs.appendFileSync(${JSON.stringify(log)}, "more\\n");`,
      ],
      { stdout: "ignore", stderr: "ignore" },
    );
    await Bun.sleep(100);
    const result = await buckyJson<RunJson>(["backup", "run", "--home", home]);
    writer.kill();
    expect(result.changing).toContain("data/growing.log");
    expect(await readsBackWhole(home)).toBe(true);
  }, 60_000);
});

describe("status and retention", () => {
  test("status: level 0 before any backup, level 1 after, verified or not", async () => {
    const { home } = await newHome();
    const before = await buckyJson<{ reliability: { level: number; warnings: string[] } }>([
      "status",
      "--home",
      home,
    ]);
    expect(before.reliability.level).toBe(0);
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
    await buckyJson(["backup", "run", "--home", home]);
    const after = await buckyJson<{
      reliability: { level: number; warnings: string[] };
      backups: { device: string; target: string; lastBackup: unknown }[];
    }>(["status", "--home", home]);
    expect(after.reliability.level).toBe(1);
    expect(after.reliability.warnings.join(" ")).toContain("verified");
    expect(after.backups).toEqual([
      expect.objectContaining({ target: "usb", lastBackup: expect.any(Object) }),
    ]);
    // Its data not read back, it says what it did check, and claims no more.
    const plain = await bucky(["backup", "verify", "--home", home]);
    expect(plain.stdout).toMatch(
      /^usb is sound: 1 snapshot, its trees read back and the \d+ blobs it needs all in the index \(`bucky backup verify --read-data` reads the data back too\)\.\n$/,
    );
    const verified = await buckyJson<{ reliability: { warnings: string[] } }>([
      "status",
      "--home",
      home,
    ]);
    expect(verified.reliability.warnings).toEqual([]);
    const text = await bucky(["status", "--home", home]);
    expect(text.stdout).toMatch(/Backup {7}\S+ to usb: last/);
  });

  test("prune keeps the newest by the policy, and what it keeps still restores", async () => {
    const { home } = await newHome();
    mkdirSync(join(home, "data"));
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
    for (let i = 0; i < 12; i++) {
      writeFileSync(join(home, "data", `file-${i}.txt`), `version ${i}\n`.repeat(1000));
      await buckyJson(["backup", "run", "--home", home]);
    }
    const pruned = await buckyJson<{ keptSnapshots: number; removedSnapshots: number }>([
      "backup",
      "prune",
      "--home",
      home,
    ]);
    expect(pruned).toMatchObject({ keptSnapshots: 10, removedSnapshots: 2 });
    const { snapshots } = await buckyJson<{ snapshots: unknown[] }>([
      "backup",
      "list",
      "--home",
      home,
    ]);
    expect(snapshots).toHaveLength(10);
    expect(await readsBackWhole(home)).toBe(true);
    const to = join(scratchDir(), "pruned");
    await buckyJson(["backup", "restore", "latest", "--to", to, "--home", home]);
    expect(manifest(join(to, "data"))).toEqual(manifest(join(home, "data")));
  }, 60_000);
});

describe("a device given the backup key", () => {
  test("backs up once the owner types the phrase there, and its running daemon starts at once", async () => {
    const { home: founder, phrase } = await newHome();
    const founderDaemon = await startDaemon(founder);
    const { token } = await buckyJson<{ token: string }>([
      "invite",
      "--no-backup-key",
      "--home",
      founderDaemon.home,
    ]);
    const home = newHomePath();
    await buckyJson(["join", token, "--home", home, "--device", "laptop", "--no-start"]);
    await startDaemon(home, { BUCKY_SYNC_INTERVAL_MS: "300" });
    const repo = join(scratchDir(), "repo");
    const refused = await bucky(["backup", "target", "add", "usb", repo, "--home", home, "--json"]);
    expect(jsonError(refused)).toMatchObject({
      code: "E_PERMISSION",
      hint: expect.stringContaining("bucky backup key"),
    });

    const keyFile = join(home, "identity", "backup.key");
    const another = await newHome();
    const wrongZone = await bucky(["backup", "key", "--home", home, "--json"], {
      stdin: `${another.phrase}\n`,
    });
    expect(jsonError(wrongZone).code).toBe("E_PERMISSION");
    // The last word mistyped as another of the list whose checksum does not match (one
    // in 256 does, and was taken for another zone's phrase).
    const words = phrase.split(" ");
    const typo = ["abandon", "ability", "able", "about", "above"]
      .map((last) => [...words.slice(0, 23), last].join(" "))
      .find((typed) => !checkPhrase(typed).ok) as string;
    const mistyped = await bucky(["backup", "key", "--home", home, "--json"], {
      stdin: `${typo}\n`,
    });
    expect(jsonError(mistyped).code).toBe("E_INVALID_INPUT");
    expect(existsSync(keyFile)).toBe(false);

    const given = await buckyJson<{ written: boolean; daemon: string }>(
      ["backup", "key", "--home", home],
      { stdin: `${phrase}\n` },
    );
    expect(given).toMatchObject({ written: true, daemon: "backing up" });
    expect(lstatSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, "utf8")).toBe(
      readFileSync(join(founder, "identity", "backup.key"), "utf8"),
    );
    const again = await buckyJson<{ written: boolean }>(["backup", "key", "--home", home], {
      stdin: `${phrase}\n`,
    });
    expect(again.written).toBe(false);

    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    await buckyJson(["backup", "run", "--home", home]);
    // The daemon took the key without a restart: it ships the next change hot.
    await buckyJson(["state", "set", "notes/x", '"after the key"', "--home", home]);
    await waitFor("a hot backup from the laptop", () =>
      existsSync(join(repo, "hot")) &&
      readdirSync(join(repo, "hot")).some((name) => name.includes("laptop"))
        ? true
        : undefined,
    );
  }, 60_000);
});
