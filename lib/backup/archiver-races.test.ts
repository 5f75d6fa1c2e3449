/**
 * An app's tree changing under the archiver, between its look at an entry and its read:
 * the app owns every name in its data directory and may swap any of them at any moment.
 * The look is made to fall just before the change (the archiver's `lstat` hooked), so each
 * race is run every time.
 */
import { afterAll, describe, expect, setSystemTime, test } from "bun:test";
import {
  appendFileSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { Archiver } from "./archiver.ts";
import { FileCache } from "./file-cache.ts";
import { memorySink, treeNames } from "./test-repository.ts";

const scratch = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-archiver-races-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let dirs = 0;
const newDir = () => {
  const dir = join(scratch, `d${++dirs}`);
  mkdirSync(dir);
  return dir;
};

/**
 * Archives `data`, running `change` right after the archiver's look at the path ending in
 * `at`: every name the archive holds, by its path, and what it said was changing.
 */
async function archivedWith(data: string, at: string, change: () => void) {
  const { sink, blobs } = memorySink();
  const archiver = new Archiver(sink, undefined, undefined, newDir());
  const hooked = archiver as unknown as { lstat: (path: string) => unknown };
  const look = hooked.lstat.bind(archiver);
  let changed = false;
  hooked.lstat = (path: string) => {
    const seen = look(path);
    if (!changed && path.endsWith(at)) {
      changed = true;
      change();
    }
    return seen;
  };
  const result = await archiver.archive(new Map([["data", { kind: "dir", path: data }]]));
  return { names: treeNames(blobs, result.tree), changing: result.changing, changed };
}

describe("an app's tree changing between the archiver's look and its read", () => {
  test("a directory removed: the rest is archived, and it is said to be changing", async () => {
    const data = newDir();
    mkdirSync(join(data, "tmp"));
    writeFileSync(join(data, "kept.txt"), "kept");
    const archived = await archivedWith(data, "/tmp", () =>
      rmSync(join(data, "tmp"), { recursive: true }),
    );
    expect(archived).toEqual({
      names: ["data", "data/kept.txt"],
      changing: ["data/tmp"],
      changed: true,
    });
  });

  test("a link replaced by a directory: the rest is archived, and it is said to be changing", async () => {
    const data = newDir();
    symlinkSync("kept.txt", join(data, "link"));
    writeFileSync(join(data, "kept.txt"), "kept");
    const archived = await archivedWith(data, "/link", () => {
      rmSync(join(data, "link"));
      mkdirSync(join(data, "link"));
    });
    expect(archived).toEqual({
      names: ["data", "data/kept.txt"],
      changing: ["data/link"],
      changed: true,
    });
  });

  test("a directory swapped for a link to one outside: nothing outside is listed", async () => {
    const outside = newDir();
    mkdirSync(join(outside, "SECRET-DIR"));
    symlinkSync("/root/.ssh/id_ed25519", join(outside, "secret-link"));
    const data = newDir();
    mkdirSync(join(data, "d"));
    writeFileSync(join(data, "kept.txt"), "kept");
    const archived = await archivedWith(data, "/d", () => {
      rmSync(join(data, "d"), { recursive: true });
      symlinkSync(outside, join(data, "d"));
    });
    expect(lstatSync(join(data, "d")).isSymbolicLink()).toBe(true);
    expect(archived).toEqual({
      names: ["data", "data/kept.txt"],
      changing: ["data/d"],
      changed: true,
    });
  });
});

describe("a file written to while it is read", () => {
  test("is kept as read and said to be changing, but not remembered: the next run reads it again", async () => {
    const data = newDir();
    const file = join(data, "growing.log");
    writeFileSync(file, "first line\n");
    const cache = new FileCache(newDir(), {
      job: "backup of this device to usb",
      startedAt: "2026-12-04T01:00:00.000Z",
    });
    const { sink } = memorySink();
    const archiver = new Archiver(sink, cache, undefined, newDir());
    // Its writer appends during every read, the last try's too.
    const hooked = archiver as unknown as { chunkFile: (fd: number) => Promise<unknown> };
    const chunk = hooked.chunkFile.bind(archiver);
    let reads = 0;
    hooked.chunkFile = (fd: number) => {
      reads++;
      appendFileSync(file, `line ${reads}\n`);
      return chunk(fd);
    };
    // Looked at a minute on, as a large file's read ends long after its last write: the
    // change is not too recent to tell, so only being read while written keeps it out.
    setSystemTime(new Date(Date.now() + 60_000));
    try {
      const result = await archiver.archive(new Map([["data", { kind: "dir", path: data }]]));
      expect([reads, result.changing]).toEqual([3, ["data/growing.log"]]);
    } finally {
      setSystemTime();
    }
    cache.commit();
    const now = statSync(file, { bigint: true });
    const facts = {
      size: Number(now.size),
      mtimeNs: String(now.mtimeNs),
      ctimeNs: String(now.ctimeNs),
      inode: String(now.ino),
    };
    expect(cache.lookup("data/growing.log", facts)).toBeUndefined();
    cache.close();
  });
});
