/**
 * A SQLite writer's lock, found where the kernel lists it, on the file systems an app's
 * data may be on: the tests' scratch file system, and a btrfs subvolume, whose files have
 * a device number of their own that /proc/locks does not print.
 */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { writerWatch } from "./sqlite-locks.ts";
import { memoryJournalWriter } from "./test-repository.ts";

const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-sqlite-locks-"));
const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted) spawnSync("umount", ["-l", dir]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Whether a writer part way is told, while it holds its transaction and once it is gone. */
async function toldAt(path: string): Promise<{ partWay: boolean; gone: boolean }> {
  const db = new Database(path, { create: true });
  db.run("CREATE TABLE t (x)");
  db.close();
  // 1.2 MB in one transaction: past its page cache, put in the file.
  const writer = memoryJournalWriter(
    path,
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) INSERT INTO t SELECT zeroblob(4000) FROM n",
  );
  const fd = openSync(path, "r");
  try {
    await writer.ready;
    const writing = writerWatch(fd);
    const partWay = writing();
    writer.child.kill("SIGKILL");
    await writer.child.exited;
    return { partWay, gone: !writing() };
  } finally {
    closeSync(fd);
  }
}

test("a writer putting pages in the file is told by its lock, and no longer once it is gone", async () => {
  expect(await toldAt(join(scratch, "notes.db"))).toEqual({ partWay: true, gone: true });
});

test("on a btrfs subvolume too, whose files' device is not the one the kernel lists locks by", async () => {
  const image = join(scratch, "btrfs.img");
  const dir = join(scratch, "btrfs");
  mkdirSync(dir);
  writeFileSync(image, "");
  truncateSync(image, 128 * 1024 * 1024);
  // btrfs-progs comes with the test's system packages (test/system-packages.sh).
  expect(spawnSync("mkfs.btrfs", ["-q", "-f", image]).status).toBe(0);
  expect(spawnSync("mount", ["-o", "loop", image, dir]).status).toBe(0);
  mounted.push(dir);
  expect(spawnSync("btrfs", ["subvolume", "create", join(dir, "app")]).status).toBe(0);
  expect(await toldAt(join(dir, "app", "notes.db"))).toEqual({ partWay: true, gone: true });
});
