import { afterEach, beforeEach, describe, expect, spyOn, test } from "bun:test";
import * as fs from "node:fs";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DIRECT_ALIGN_BYTES, PartialFile } from "./partial-file.ts";

/**
 * Where the tests write: the first of these directories whose file system takes O_DIRECT
 * (tmpfs does not), so that the path around the page cache is tested, not passed over.
 */
const scratchBase = [tmpdir(), "/var/tmp"].find(takesDirect);
const scratch = mkdtempSync(join(scratchBase ?? tmpdir(), "bucky-partial-"));
beforeEach(() => fs.mkdirSync(scratch, { recursive: true }));
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

/** Whether the file system of `dir` takes O_DIRECT. */
function takesDirect(dir: string): boolean {
  const probe = join(dir, `.bucky-direct-probe-${process.pid}`);
  try {
    closeSync(openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { force: true });
  }
}

/** Fails, saying why, where no directory to test in takes O_DIRECT. */
function requireDirect(): void {
  if (scratchBase === undefined)
    throw new Error(
      `neither ${tmpdir()} nor /var/tmp is on a file system that takes O_DIRECT (ext4, xfs, btrfs): the tests of writing around the page cache need one`,
    );
}

function pattern(length: number, seed: number): Uint8Array {
  return new Uint8Array(length).map((_, i) => (i * seed) % 251);
}

/**
 * Each write's length and whether it went to a descriptor opened with O_DIRECT, and how
 * many such descriptors were opened; `refuseDirect`: those writes fail as O_DIRECT fails
 * for memory not aligned as it asks (EINVAL).
 */
function watchWrites({ refuseDirect = false } = {}) {
  const direct = new Set<number>();
  const writes: { direct: boolean; length: number }[] = [];
  const open = fs.openSync;
  const write = fs.write;
  const spies = [
    spyOn(fs, "openSync").mockImplementation(((path, flags, mode) => {
      const fd = open(path, flags, mode);
      if (typeof flags === "number" && (flags & constants.O_DIRECT) !== 0) direct.add(fd);
      return fd;
    }) as typeof fs.openSync),
    spyOn(fs, "write").mockImplementation(((fd: number, ...rest: unknown[]) => {
      writes.push({ direct: direct.has(fd), length: rest[2] as number });
      if (refuseDirect && direct.has(fd)) {
        const callback = rest.at(-1) as (error: unknown) => void;
        callback(Object.assign(new Error("EINVAL: invalid argument"), { code: "EINVAL" }));
        return;
      }
      return (write as (...args: unknown[]) => void)(fd, ...rest);
    }) as unknown as typeof fs.write),
  ];
  const restore = () => {
    for (const spy of spies) spy.mockRestore();
  };
  return { writes, directOpened: () => direct.size, restore };
}

describe("a partial file", () => {
  test("sends whole pages at page offsets around the page cache (O_DIRECT), and the rest through it", async () => {
    requireDirect();
    const watch = watchWrites();
    const destination = join(scratch, "out.bin");
    const head = pattern(4 * 1024 * 1024, 7);
    const tail = pattern(100, 3);
    try {
      const file = PartialFile.open(destination);
      await file.write(head.length, tail);
      await file.write(0, head);
      await file.commit();
    } finally {
      watch.restore();
    }
    // The tail is no whole page: never tried around the cache. The head is tried first
    // that way (whether the runtime's memory is aligned as O_DIRECT asks is its own).
    expect(watch.writes[0]).toEqual({ direct: false, length: 100 });
    expect(watch.writes[1]).toEqual({ direct: true, length: head.length });
    expect(Buffer.compare(readFileSync(destination), Buffer.concat([head, tail]))).toBe(0);
    expect(readdirSync(scratch)).toEqual(["out.bin"]);
  });

  test("writes through the page cache what O_DIRECT refuses (memory not aligned as it asks)", async () => {
    requireDirect();
    const watch = watchWrites({ refuseDirect: true });
    const destination = join(scratch, "out.bin");
    const bytes = pattern(2 * DIRECT_ALIGN_BYTES, 5);
    try {
      const file = PartialFile.open(destination);
      await file.write(DIRECT_ALIGN_BYTES, bytes.subarray(DIRECT_ALIGN_BYTES));
      await file.write(0, bytes.subarray(0, DIRECT_ALIGN_BYTES));
      await file.commit();
    } finally {
      watch.restore();
    }
    expect(watch.directOpened()).toBe(1);
    expect(watch.writes.some((write) => write.direct)).toBe(true);
    expect(Buffer.compare(readFileSync(destination), bytes)).toBe(0);
  });

  test("where the file system refuses O_DIRECT, is written through the page cache and handed to the disk as it goes", async () => {
    const open = fs.openSync;
    const opened = spyOn(fs, "openSync").mockImplementation(((path, flags, mode) => {
      if (typeof flags === "number" && (flags & constants.O_DIRECT) !== 0)
        throw Object.assign(new Error("EINVAL"), { code: "EINVAL" });
      return open(path, flags, mode);
    }) as typeof fs.openSync);
    const synced = spyOn(fs, "fdatasync");
    const destination = join(scratch, "large.bin");
    // Past the 64 MiB after which what was written is synced in the background.
    const piece = pattern(8 * 1024 * 1024, 11);
    try {
      const file = PartialFile.open(destination);
      for (let i = 0; i < 9; i++) await file.write(i * piece.length, piece);
      await file.commit();
      expect(synced).toHaveBeenCalled();
    } finally {
      opened.mockRestore();
      synced.mockRestore();
    }
    const written = readFileSync(destination);
    expect(written.length).toBe(9 * piece.length);
    expect(Buffer.compare(written.subarray(8 * piece.length), piece)).toBe(0);
  });

  test("discarded, leaves nothing behind", async () => {
    const file = PartialFile.open(join(scratch, "out.bin"));
    await file.write(0, pattern(5000, 3));
    await file.discard();
    expect(readdirSync(scratch)).toEqual([]);
  });
});
