/**
 * Retiring a device loses nothing, with real daemons: a conflict copy kept only on the
 * laptop is in its backups, and a box restored from the NAS's snapshot gets it back; a
 * drain of the laptop is not done while the copy is only there, until it is deleted on
 * purpose (asked first, and only where it is kept); a drain of the NAS is not done while
 * it alone holds the owner key and is the via of the zone's backup target. Every drain is
 * asked from a device other than the one drained.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DrainProgress } from "../lib/replica/drain.ts";
import type { ObjectId } from "../protocol/ndn.ts";
import { conflictCopyName } from "../protocol/replica.ts";
import {
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

afterAll(cleanUp);

const FAST = { BUCKY_CONVERGE_INTERVAL_MS: "300", BUCKY_HEARTBEAT_MS: "1000" };

let nas: Daemon;
let laptop: Daemon;
let phrase = "";
let repo = "";
/** A conflict copy of the notes app's data, kept on the laptop alone. */
const copy = conflictCopyName(Date.parse("2026-11-28T21:40:03.120Z"), "laptop", 3);

beforeAll(async () => {
  const nasHome = newHomePath();
  ({ recoveryPhrase: phrase } = await buckyJson<{ recoveryPhrase: string }>([
    "init",
    "--home",
    nasHome,
    "--device",
    "nas",
  ]));
  nas = await startDaemon(nasHome, FAST);
  const { token } = await buckyJson<{ token: string }>(["invite", "--home", nasHome]);
  const laptopHome = newHomePath();
  await buckyJson(["join", token, "--home", laptopHome, "--device", "laptop", "--no-start"]);
  laptop = await startDaemon(laptopHome, FAST);
  // The copy as the laptop's replication keeps it: the data's directory and its record.
  const conflicts = join(laptop.home, "apps", "notes", "conflicts");
  mkdirSync(join(conflicts, copy, "db"), { recursive: true });
  writeFileSync(join(conflicts, copy, "db", "late.txt"), "written in the dark\n");
  writeFileSync(
    join(conflicts, `${copy}.json`),
    `${JSON.stringify({ name: copy, at: "2026-11-28T21:40:03.120Z", bytes: 20, epoch: 3 })}\n`,
  );
  // The zone's backup target, reached by the NAS (its via).
  repo = join(scratchDir(), "usb");
  await buckyJson(["backup", "target", "add", "usb", repo, "--home", nas.home, "--no-backup"]);
  await waitFor("the laptop to see the target", async () =>
    (await buckyJson<{ targets: unknown[] }>(["backup", "target", "list", "--home", laptop.home]))
      .targets.length > 0
      ? true
      : undefined,
  );
}, 60_000);

/** The drain's progress as `from` sees it (exit 3 while it is not done, 0 once it is). */
async function drain(device: string, from: Daemon, ...flags: string[]): Promise<DrainProgress> {
  const result = await bucky(["devices", "drain", device, ...flags, "--json", "--home", from.home]);
  const progress = JSON.parse(result.stdout) as DrainProgress;
  expect(result.exitCode).toBe(progress.draining && !progress.done ? 3 : 0);
  return progress;
}

describe("a conflict copy kept on one device", () => {
  test("is in that device's backups, and a box restored from another device's snapshot gets it back", async () => {
    await buckyJson(["backup", "run", "--home", laptop.home]);
    const own = join(scratchDir(), "own");
    await buckyJson(["backup", "restore", "latest", "--to", own, "--home", laptop.home]);
    expect(
      readFileSync(join(own, "apps", "notes", "conflicts", copy, "db", "late.txt"), "utf8"),
    ).toBe("written in the dark\n");

    // The NAS's snapshot is the newer: a new box restored from it (the zone lost) gets the
    // laptop's copy back among its own, where `bucky app restore-copy` finds it.
    await buckyJson(["backup", "run", "--home", nas.home]);
    const fresh = newHomePath();
    await buckyJson(["init", "--recover", "--device", "newbox", "--home", fresh], {
      stdin: `${phrase}\n`,
    });
    const restored = await buckyJson<{ device: string }>([
      "backup",
      "restore",
      "latest",
      "--from",
      repo,
      "--home",
      fresh,
    ]);
    expect(restored.device).toBe("nas");
    const back = join(fresh, "apps", "notes", "conflicts");
    expect(readFileSync(join(back, copy, "db", "late.txt"), "utf8")).toBe("written in the dark\n");
    expect(JSON.parse(readFileSync(join(back, `${copy}.json`), "utf8"))).toMatchObject({
      name: copy,
    });
  }, 120_000);

  test("keeps the drain of that device from being done, until it is deleted on purpose there", async () => {
    const progress = await waitFor("the NAS to hear of the laptop's copy", async () => {
      const now = await drain("laptop", nas, "--no-wait");
      return now.conflicts.length > 0 ? now : undefined;
    });
    expect(progress).toMatchObject({
      device: "laptop",
      draining: true,
      done: false,
      conflicts: [{ app: "notes", name: copy, at: "2026-11-28T21:40:03.120Z", bytes: 20 }],
    });
    const said = await bucky(["devices", "drain", "laptop", "--no-wait", "--home", nas.home]);
    expect(said.exitCode).toBe(3);
    expect(said.stdout).toContain(`bucky app restore-copy notes ${copy}`);
    expect(said.stdout).not.toContain("Revoke it");

    // Deleting it is asked first; asked of another device, it says where the copy is.
    const unasked = await bucky([
      "app",
      "delete-copy",
      "notes",
      copy,
      "--json",
      "--home",
      laptop.home,
    ]);
    expect([unasked.exitCode, jsonError(unasked).code]).toEqual([2, "E_USAGE"]);
    const elsewhere = await bucky([
      "app",
      "delete-copy",
      "notes",
      copy,
      "--yes",
      "--json",
      "--home",
      nas.home,
    ]);
    expect(jsonError(elsewhere)).toMatchObject({ code: "E_NOT_FOUND" });
    expect(jsonError(elsewhere).hint).toContain("on laptop");
    const outside = await bucky([
      "app",
      "delete-copy",
      "notes",
      "../data",
      "--yes",
      "--json",
      "--home",
      laptop.home,
    ]);
    expect(jsonError(outside)).toMatchObject({ code: "E_NOT_FOUND" });
    expect(existsSync(join(laptop.home, "apps", "notes", "conflicts", copy))).toBe(true);

    const deleted = await buckyJson([
      "app",
      "delete-copy",
      "notes",
      copy,
      "--yes",
      "--home",
      laptop.home,
    ]);
    expect(deleted).toMatchObject({ app: "notes", device: "laptop", name: copy, deleted: true });
    expect(existsSync(join(laptop.home, "apps", "notes", "conflicts", copy))).toBe(false);
    const done = await waitFor("the drain of the laptop to be done", async () => {
      const now = await drain("laptop", nas, "--no-wait");
      return now.done ? now : undefined;
    });
    expect(done.conflicts).toEqual([]);
    await drain("laptop", nas, "--cancel");
  }, 90_000);
});

describe("what else the zone needs of a device", () => {
  test("the only device holding the owner key, and the via of a backup target, is not drained", async () => {
    const progress = await drain("nas", laptop, "--no-wait");
    expect(progress).toMatchObject({
      device: "nas",
      draining: true,
      done: false,
      backupVia: ["usb"],
      onlyOwnerKey: true,
      onlyBackupKey: false,
      conflicts: [],
    });
    const said = await bucky(["devices", "drain", "nas", "--no-wait", "--home", laptop.home]);
    expect(said.exitCode).toBe(3);
    expect(said.stdout).toContain("bucky backup target rm usb");
    expect(said.stdout).toContain("bucky zone owner-key");
    expect(said.stdout).not.toContain("Revoke it");

    // The laptop is given the owner key, and the target is added again from the laptop.
    const given = await buckyJson(["zone", "owner-key", "--home", laptop.home], {
      stdin: `${phrase}\n`,
    });
    expect(given).toMatchObject({ device: "laptop", written: true });
    await waitFor("the owner key to be held elsewhere", async () => {
      const now = await drain("nas", laptop, "--no-wait");
      return now.onlyOwnerKey ? undefined : now;
    });
    await buckyJson(["backup", "target", "rm", "usb", "--home", laptop.home]);
    await buckyJson([
      "backup",
      "target",
      "add",
      "usb2",
      join(scratchDir(), "usb2"),
      "--home",
      laptop.home,
      "--no-backup",
    ]);
    const done = await waitFor("the drain of the NAS to be done", async () => {
      const now = await drain("nas", laptop, "--no-wait");
      return now.done ? now : undefined;
    });
    expect(done).toMatchObject({ backupVia: [], onlyOwnerKey: false, onlyGateway: false });
  }, 90_000);
});

describe("a stored file only on the device", () => {
  test("past the budget, keeps the drain from being done until it is let go; what is within is on another device", async () => {
    await drain("nas", laptop, "--cancel");
    // The target the test above added through the laptop goes: the laptop is its via.
    await buckyJson(["backup", "target", "rm", "usb2", "--home", nas.home]);
    await buckyJson(["state", "set", "system/files-budget", "65536", "--home", nas.home]);
    const within = join(scratchDir(), "within.txt");
    const past = join(scratchDir(), "past.bin");
    writeFileSync(within, "kept by the zone\n");
    writeFileSync(past, randomBytes(100_000));
    const kept = await buckyJson<{ id: string; copiedBy: string[] }>([
      "put",
      within,
      "--home",
      laptop.home,
    ]);
    expect(kept.copiedBy).toEqual(["nas"]);
    const alone = await buckyJson<{ id: ObjectId }>(["put", past, "--home", laptop.home]);

    const progress = await waitFor("the NAS to hear of the laptop's file", async () => {
      const now = await drain("laptop", nas, "--no-wait");
      return now.files.length > 0 ? now : undefined;
    });
    expect(progress).toMatchObject({ draining: true, done: false, conflicts: [] });
    expect(progress.files).toEqual([
      { id: alone.id, name: "past.bin", apps: [], bytes: 100_000, withinBudget: false },
    ]);
    const said = await bucky(["devices", "drain", "laptop", "--no-wait", "--home", nas.home]);
    expect(said.exitCode).toBe(3);
    expect(said.stdout).toContain(`bucky rm ${alone.id}`);
    expect(said.stdout).not.toContain("Revoke it");

    await buckyJson(["rm", alone.id, "--home", nas.home]);
    const done = await waitFor("the drain of the laptop to be done", async () => {
      const now = await drain("laptop", nas, "--no-wait");
      return now.done ? now : undefined;
    });
    expect(done.files).toEqual([]);
    // Drained, the laptop goes: the file within the budget is had from the NAS.
    await laptop.kill();
    const out = join(scratchDir(), "within.out");
    await buckyJson(["get", kept.id, "-o", out, "--home", nas.home]);
    expect(readFileSync(out, "utf8")).toBe("kept by the zone\n");
  }, 90_000);
});
