import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { homePaths } from "../home.ts";
import { readHotShipped, writeHotShipped } from "./hot-shipped.ts";

const homes: string[] = [];
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

function freshHome() {
  const home = mkdtempSync(join(tmpdir(), "bucky-hot-shipped-"));
  homes.push(home);
  return homePaths(home);
}

describe("how far each target has this device's hot changes", () => {
  test("none recorded yet is none, not damage; what is written reads back", () => {
    const paths = freshHome();
    expect(readHotShipped(paths)).toEqual({});
    writeHotShipped(paths, { usb: 12, "nas-b2": 0 });
    expect(readHotShipped(paths)).toEqual({ usb: 12, "nas-b2": 0 });
  });

  test("a file not as it was written is damaged, not read in part", () => {
    const paths = freshHome();
    writeHotShipped(paths, { usb: 12 });
    const file = join(paths.backupDir, "hot-shipped.json");
    for (const text of ["{ not json", "[12]", '{"usb": "12"}', '{"usb": -1}', '{"usb": 1.5}']) {
      writeFileSync(file, text);
      expect(readHotShipped(paths)).toBeUndefined();
    }
  });
});
