/**
 * Putting a file of a snapshot back from the panel, against a tree someone else controls:
 * an app owns its data directory and can put a symbolic link anywhere in it before the
 * owner presses "restore". What is put back must land inside the home, where it says,
 * never through a link to somewhere else (/etc, bucky's own keys).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { restoreSnapshotPath } from "../lib/backup/snapshot-files.ts";
import { homePaths } from "../lib/home.ts";
import { createLog } from "../lib/log.ts";
import { buckyJson, cleanUp, newHomePath, scratchDir } from "./harness.ts";

afterAll(cleanUp);

const log = createLog({ level: "silent" });

describe("a file put back from a snapshot", () => {
  let home: string;
  let snapshot: string;
  const where = () => ({ paths: homePaths(home), target: "usb", snapshot, log });

  beforeAll(async () => {
    home = newHomePath();
    await buckyJson(["init", "--home", home, "--device", "box"]);
    mkdirSync(join(home, "data", "photos", "2026"), { recursive: true });
    writeFileSync(join(home, "data", "photos", "cat.bin"), "a cat\n");
    writeFileSync(join(home, "data", "photos", "2026", "dog.bin"), "a dog\n");
    const repo = join(scratchDir(), "repo");
    await buckyJson(["backup", "target", "add", "usb", repo, "--home", home, "--no-backup"]);
    ({ snapshot } = await buckyJson<{ snapshot: string }>(["backup", "run", "--home", home]));
  }, 60_000);

  test("lands beside what is there, inside the home", async () => {
    const restored = await restoreSnapshotPath(where(), "data/photos/cat.bin", () => {}, Date.now);
    expect(restored.restoredAs).toMatch(/^data\/photos\/cat \(restored \d{4}-\d{2}-\d{2}\)\.bin$/);
    expect(readFileSync(join(home, restored.restoredAs), "utf8")).toBe("a cat\n");
  });

  test("never through a folder that became a link to somewhere else", async () => {
    const outside = join(scratchDir(), "outside");
    mkdirSync(outside);
    rmSync(join(home, "data", "photos"), { recursive: true });
    symlinkSync(outside, join(home, "data", "photos"));
    await expect(
      restoreSnapshotPath(where(), "data/photos/cat.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    await expect(
      restoreSnapshotPath(where(), "data/photos/2026", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    expect(readdirSync(outside)).toEqual([]);
  });

  test("never through a link deeper down either", async () => {
    const outside = join(scratchDir(), "outside-deeper");
    mkdirSync(outside);
    rmSync(join(home, "data", "photos"), { force: true });
    mkdirSync(join(home, "data", "photos"));
    symlinkSync(outside, join(home, "data", "photos", "2026"));
    await expect(
      restoreSnapshotPath(where(), "data/photos/2026/dog.bin", () => {}, Date.now),
    ).rejects.toMatchObject({ code: "E_INVALID_INPUT" });
    expect(readdirSync(outside)).toEqual([]);
  });
});
