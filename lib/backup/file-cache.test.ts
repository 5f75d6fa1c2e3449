import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileCache } from "./file-cache.ts";

const dir = mkdtempSync(join(tmpdir(), "bucky-file-cache-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const facts = { size: 3, mtimeNs: "1", ctimeNs: "1", inode: "7" };
const run = { job: "backup of this device to usb", startedAt: "2026-12-01T01:00:00.000Z" };

describe("the file cache", () => {
  test("remembers a run's files once committed, and a damaged one starts afresh", () => {
    const first = new FileCache(dir, run);
    first.keep("data/a", facts, ["id1"]);
    first.commit();
    first.close();
    const again = new FileCache(dir, run);
    expect(again.lookup("data/a", facts)).toEqual(["id1"]);
    again.close();

    const file = join(dir, "files.db");
    writeFileSync(file, Buffer.concat([Buffer.alloc(100, 0xff), readFileSync(file).subarray(100)]));
    const mended = new FileCache(dir, run);
    expect(mended.lookup("data/a", facts)).toBeUndefined();
    mended.keep("data/a", facts, ["id2"]);
    mended.commit();
    expect(mended.lookup("data/a", facts)).toEqual(["id2"]);
    mended.close();
  });

  test("a file changed too lately to tell, as it was read, is read again next run: not remembered", () => {
    const nowNs = String(BigInt(Date.now()) * 1_000_000n);
    const lately = { size: 3, mtimeNs: "1", ctimeNs: nowNs, inode: "8" };
    const cache = new FileCache(mkdtempSync(join(dir, "racy-")), run);
    cache.keep("data/racy", lately, ["id3"]);
    cache.keep("data/settled", facts, ["id4"]);
    // Changed a moment before it was last looked at, a minute before its chunks were stored.
    const slow = {
      ...lately,
      inode: "9",
      seenAtMs: Date.now() - 60_000,
      ctimeNs: String(BigInt(Date.now() - 60_500) * 1_000_000n),
    };
    cache.keep("data/slow", slow, ["id5"]);
    cache.commit();
    expect(cache.lookup("data/slow", slow)).toBeUndefined();
    // Written again within the clock's tick after it was read, it would match as it is.
    expect(cache.lookup("data/racy", lately)).toBeUndefined();
    expect(cache.lookup("data/settled", facts)).toEqual(["id4"]);
    cache.close();
  });
});
