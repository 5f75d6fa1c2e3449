import { describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { heldNotesZone, reportNotes } from "../replica/test-held-app.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { parseSpec, type RolledBack, rolledBackSpec } from "./spec.ts";
import { TEST_PACKAGE, testManifest, testSpec } from "./test-spec.ts";
import {
  failedUpgradeSentence,
  markHealthy,
  ROLLBACK_AFTER_CRASHES,
  upgradeFailed,
} from "./upgrade-rollback.ts";

const NEW_PACKAGE = `sha256:${"cd".repeat(32)}` as typeof TEST_PACKAGE;
const devices = ["nas", "laptop"];
/** An app's directory where `healthy` was the last package to run healthy. */
const appDir = (healthy: typeof TEST_PACKAGE | null = TEST_PACKAGE) => {
  const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-rollback-"));
  if (healthy) markHealthy(dir, healthy);
  return dir;
};
const crashes = { exits: ROLLBACK_AFTER_CRASHES };
/** Laptop gave up the install of NEW_PACKAGE for TEST_PACKAGE (1.0.0). */
const givenUp: RolledBack = {
  package: NEW_PACKAGE,
  installedAt: null,
  backTo: { package: TEST_PACKAGE, manifest: testManifest("notes", { version: "1.0.0" }) },
  error: "x",
  device: "laptop",
  at: "2026-12-01T04:00:00.000Z",
};

describe("when an upgrade is given up for the version before", () => {
  // Laptop reports notes running from TEST_PACKAGE.
  const zone = heldNotesZone({ copyOnNas: true });
  const upgrade = testSpec("notes", {
    version: "2.0.0",
    package: NEW_PACKAGE,
    previousPackage: TEST_PACKAGE,
  });

  test("a version that crashed at every start, never healthy anywhere, with one before", () => {
    expect(upgradeFailed(zone.db, upgrade, crashes, { appDir: appDir(), devices })).toBe(true);
  });

  test("not before enough crashes, nor without a version before", () => {
    const where = { appDir: appDir(), devices };
    expect(upgradeFailed(zone.db, upgrade, { exits: ROLLBACK_AFTER_CRASHES - 1 }, where)).toBe(
      false,
    );
    const { previousPackage: _, ...first } = upgrade;
    expect(upgradeFailed(zone.db, first, crashes, where)).toBe(false);
  });

  test("never a version that was healthy once, here or on any device: it may have migrated the data", () => {
    const dir = appDir();
    markHealthy(dir, NEW_PACKAGE);
    expect(upgradeFailed(zone.db, upgrade, crashes, { appDir: dir, devices })).toBe(false);
    // Laptop's report says TEST_PACKAGE ran there.
    const ranOnLaptop = { ...upgrade, package: TEST_PACKAGE, previousPackage: NEW_PACKAGE };
    const where = { appDir: appDir(NEW_PACKAGE), devices };
    expect(upgradeFailed(zone.db, ranOnLaptop, crashes, where)).toBe(false);
  });

  test("on a device that took the app over, as the holder's report says: its note stayed on the holder", () => {
    // Nothing noted here; laptop's report says the version before runs there.
    const unnoted = { appDir: appDir(null), devices };
    expect(upgradeFailed(zone.db, upgrade, crashes, unnoted)).toBe(true);
    // Nor where no device says the version before ran healthy (or before any noted it).
    const crashedThere = heldNotesZone({ copyOnNas: true });
    reportNotes(crashedThere, "laptop", "crashed");
    expect(upgradeFailed(crashedThere.db, upgrade, crashes, unnoted)).toBe(false);
    expect(upgradeFailed(crashedThere.db, upgrade, crashes, { appDir: appDir(), devices })).toBe(
      true,
    );
  });

  test("the spec written back names the version before and what failed, and reads as a spec", () => {
    const back = rolledBackSpec(upgrade, {
      ...givenUp,
      error: "the process exited with code 3",
      at: "2026-12-01T04:00:00.000Z",
    });
    expect(parseSpec(JSON.stringify(back), "notes")).toEqual(back);
    expect([back.version, back.package, back.previousPackage]).toEqual([
      "1.0.0",
      TEST_PACKAGE,
      undefined,
    ]);
    expect(failedUpgradeSentence(back)).toBe(
      'upgrade to 2.0.0 failed: laptop says "the process exited with code 3"; running 1.0.0',
    );
    expect(failedUpgradeSentence(upgrade)).toBeUndefined();
  });

  test("a failedUpgrade naming no device by a device name's rules makes the spec unreadable", () => {
    const back = rolledBackSpec(upgrade, { ...givenUp, device: "the owner must run rm -rf" });
    expect(parseSpec(JSON.stringify(back), "notes")).toBeUndefined();
  });
});
