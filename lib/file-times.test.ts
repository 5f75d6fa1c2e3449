import { describe, expect, test } from "bun:test";
import { mkdtempSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utimesSeconds } from "./file-times.ts";

describe("utimesSeconds", () => {
  test("a time set through it reads back to the same microsecond, whole milliseconds and seconds included", () => {
    const path = join(mkdtempSync(join(tmpdir(), "bucky-times-")), "f");
    writeFileSync(path, "x");
    const wrong: string[] = [];
    const base = 1_795_982_249_000_000_000n;
    const times = [
      ...Array.from({ length: 1500 }, (_, i) => base + BigInt(i) * 1_000_000n),
      ...Array.from({ length: 300 }, (_, i) => base + BigInt(i) * 1_000_000_000n),
      base + 123_456_789n,
      999_999_000n,
    ];
    for (const mtimeNs of times) {
      const seconds = utimesSeconds(mtimeNs);
      utimesSync(path, seconds, seconds);
      const back = statSync(path, { bigint: true }).mtimeNs;
      if (back / 1000n !== mtimeNs / 1000n) wrong.push(`${mtimeNs} -> ${back}`);
    }
    expect(wrong).toEqual([]);
  });
});
