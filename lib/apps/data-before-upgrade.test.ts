import { describe, expect, test } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { ObjectId } from "../../protocol/ndn.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import {
  dropDataBeforeUpgrade,
  FAILED_UPGRADE_DATA_DIR,
  keepDataBeforeUpgrade,
  restoreDataBeforeUpgrade,
} from "./data-before-upgrade.ts";

const V2 = `sha256:${"22".repeat(32)}` as ObjectId;
const V3 = `sha256:${"33".repeat(32)}` as ObjectId;

/** An app's directory whose data holds db/notes.db saying `text`. */
function appDir(text: string): string {
  const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-upgrade-data-"));
  mkdirSync(join(dir, "data", "db"), { recursive: true });
  writeFileSync(join(dir, "data", "db", "notes.db"), text);
  return dir;
}
const notes = (dir: string, under = "data") =>
  readFileSync(join(dir, under, "db", "notes.db"), "utf8");

describe("the app's data from before an upgrade", () => {
  test("is put back when that upgrade is given up, what it left kept aside", () => {
    const dir = appDir("as 2.0.0 left it");
    expect(keepDataBeforeUpgrade(dir, V3)).toBe(true);
    writeFileSync(join(dir, "data", "db", "notes.db"), "half migrated by 3.0.0");
    // Another upgrade's copy is not this one's.
    expect(restoreDataBeforeUpgrade(dir, V2)).toBe(false);
    expect(restoreDataBeforeUpgrade(dir, V3)).toBe(true);
    expect([notes(dir), notes(dir, FAILED_UPGRADE_DATA_DIR)]).toEqual([
      "as 2.0.0 left it",
      "half migrated by 3.0.0",
    ]);
    // Once: the copy is used up.
    expect(restoreDataBeforeUpgrade(dir, V3)).toBe(false);
  });

  // A daemon killed part way through the put-back runs it again at its next start.
  test.each([
    [
      "with the failed version's data moved aside",
      (dir: string) => {
        renameSync(join(dir, "data"), join(dir, FAILED_UPGRADE_DATA_DIR));
      },
    ],
    [
      "with the copy moved into place",
      (dir: string) => {
        renameSync(join(dir, "data"), join(dir, FAILED_UPGRADE_DATA_DIR));
        renameSync(join(dir, "before-upgrade", "data"), join(dir, "data"));
      },
    ],
    [
      "with the copy's directory half removed",
      (dir: string) => {
        renameSync(join(dir, "data"), join(dir, FAILED_UPGRADE_DATA_DIR));
        renameSync(join(dir, "before-upgrade", "data"), join(dir, "data"));
        rmSync(join(dir, "before-upgrade", "upgrade-to"));
      },
    ],
  ])("is put back whole after a restart %s", (_, halfDone) => {
    const dir = appDir("as 2.0.0 left it");
    keepDataBeforeUpgrade(dir, V3);
    writeFileSync(join(dir, "data", "db", "notes.db"), "half migrated by 3.0.0");
    halfDone(dir);
    restoreDataBeforeUpgrade(dir, V3);
    expect([
      notes(dir),
      notes(dir, FAILED_UPGRADE_DATA_DIR),
      existsSync(join(dir, "before-upgrade", "data")),
    ]).toEqual(["as 2.0.0 left it", "half migrated by 3.0.0", false]);
    expect(restoreDataBeforeUpgrade(dir, V3)).toBe(false);
  });

  test("is copied with a socket the app keeps in its data left out, not given up for it", () => {
    const dir = appDir("as 2.0.0 left it");
    const socket = join(dir, "data", "server.sock");
    const server = Bun.listen({ unix: socket, socket: { data() {} } });
    try {
      expect(keepDataBeforeUpgrade(dir, V3)).toBe(true);
    } finally {
      server.stop(true);
    }
    writeFileSync(join(dir, "data", "db", "notes.db"), "half migrated by 3.0.0");
    expect(restoreDataBeforeUpgrade(dir, V3)).toBe(true);
    expect(notes(dir)).toBe("as 2.0.0 left it");
  });

  test("goes once the new version runs healthy, and is not kept past the size limit", () => {
    const dir = appDir("as 2.0.0 left it");
    keepDataBeforeUpgrade(dir, V3);
    dropDataBeforeUpgrade(dir, V3);
    expect(existsSync(join(dir, "before-upgrade"))).toBe(false);
    expect(keepDataBeforeUpgrade(dir, V3, 4)).toBe(false);
    expect(restoreDataBeforeUpgrade(dir, V3)).toBe(false);
    expect(notes(dir)).toBe("as 2.0.0 left it");
  });
});
