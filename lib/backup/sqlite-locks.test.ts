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
import { writerPartWay } from "./sqlite-locks.ts";

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
  const writer = Bun.spawn(
    [
      process.execPath,
      "-e",
      `const { Database } = require("bun:sqlite");
       const db = new Database(${JSON.stringify(path)});
       db.exec("PRAGMA journal_mode = MEMORY");
       db.run("PRAGMA cache_size = 2");
       db.run("BEGIN");
       for (let i = 0; i < 300; i++) db.run("INSERT INTO t VALUES (?)", [new Uint8Array(4000)]);
       console.log("part way");
       setInterval(() => {}, 1000);`,
    ],
    { stdout: "pipe" },
  );
  const fd = openSync(path, "r");
  try {
    await new Response(writer.stdout).body?.getReader().read();
    const partWay = writerPartWay(fd);
    writer.kill("SIGKILL");
    await writer.exited;
    return { partWay, gone: !writerPartWay(fd) };
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
