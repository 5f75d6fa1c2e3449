import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOT_DIR, hotChangesets, hotFileName, MAX_HOT_FILE_BYTES } from "./hot.ts";
import { LocalBackend } from "./local-backend.ts";
import { Repository } from "./repository.ts";
import { sealChangesets } from "./sealed.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("the hot changesets a restore replays", () => {
  test("a hot file larger than one can be, or that does not open, is left out and said, not an error", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bucky-hot-"));
    dirs.push(dir);
    const repository = await Repository.openOrCreate(new LocalBackend(dir), randomBytes(32), {
      withIndex: false,
    });
    try {
      const genuine = hotFileName("2026-11-29T14:00:00.000Z", "nas");
      const changesets = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])];
      mkdirSync(join(dir, HOT_DIR));
      writeFileSync(
        join(dir, HOT_DIR, genuine),
        sealChangesets(repository.keys, genuine, changesets),
      );
      // Anyone holding the backup key: one far larger than any (sparse: nothing is read of
      // it), and one that does not open, both sorting after the genuine one.
      const huge = hotFileName("2026-11-29T14:00:01.000Z", "laptop");
      closeSync(openSync(join(dir, HOT_DIR, huge), "w"));
      truncateSync(join(dir, HOT_DIR, huge), MAX_HOT_FILE_BYTES + 1);
      const junk = hotFileName("2026-11-29T14:00:02.000Z", "laptop");
      writeFileSync(join(dir, HOT_DIR, junk), randomBytes(100));

      expect(await hotChangesets(repository)).toEqual({
        changesets,
        unreadable: [
          { name: huge, problem: "it is larger than a hot file can be" },
          { name: junk, problem: expect.stringContaining(`hot ${junk}`) },
        ],
        cut: false,
      });
    } finally {
      repository.close();
    }
  });
});
