import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MANIFEST_FILE } from "../../protocol/app-manifest.ts";
import { encodePackage } from "../../protocol/app-package.ts";
import { parseObjectId } from "../../protocol/ndn.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { heldNotesZone, writeAs } from "../replica/test-held-app.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { type AppReport, appKeys, readReport } from "./spec.ts";
import { TEST_PACKAGE, testManifest, testSpec } from "./test-spec.ts";
import { markHealthy } from "./upgrade-rollback.ts";
import { versionBeforeToRun } from "./version-before.ts";

const NEW_PACKAGE = `sha256:${"cd".repeat(32)}` as typeof TEST_PACKAGE;

/**
 * Nas, restarted, with notes 1.0.0's package held and noted as the last to run healthy
 * there; laptop's report says TEST_PACKAGE runs there (heldNotesZone).
 */
function restartedNas() {
  const home = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-version-before-"));
  const zone = heldNotesZone({ copyOnNas: true });
  const node = testNodeContext(zone, "nas", { home });
  const manifest = testManifest("notes", { version: "1.0.0", data: ["db"] });
  const bytes = new TextEncoder().encode(JSON.stringify(manifest));
  const before = node.store.putBytes(
    encodePackage([{ path: MANIFEST_FILE, executable: false, bytes }]),
  ).id;
  const appDir = join(home, "apps", "notes");
  mkdirSync(appDir, { recursive: true });
  markHealthy(appDir, before);
  const upgrade = testSpec("notes", {
    version: "2.0.0",
    package: NEW_PACKAGE,
    previousPackage: before,
    manifest: testManifest("notes", { version: "2.0.0", data: ["db"] }),
  });
  return { node, zone, before, appDir, upgrade };
}

describe("the version before, on a device restarted while an upgrade waits for its package", () => {
  test("runs when it last ran healthy here and its package is held, without the upgrade's own fields", () => {
    const { node, before, upgrade } = restartedNas();
    expect(versionBeforeToRun(node, upgrade)).toEqual({
      ...testSpec("notes", { manifest: testManifest("notes", { data: ["db"] }) }),
      package: before,
    });
  });

  test("not once the upgrade's package is here: the new version runs", () => {
    const { node, before, upgrade } = restartedNas();
    expect(versionBeforeToRun(node, { ...upgrade, package: before })).toBeUndefined();
  });

  test("not when another version ran healthy here last: the data here may not be its", () => {
    const { node, appDir, upgrade } = restartedNas();
    markHealthy(appDir, TEST_PACKAGE);
    expect(versionBeforeToRun(node, upgrade)).toBeUndefined();
  });

  test("not when a device's report says the new version ran: it may have migrated the data", () => {
    const { node, upgrade } = restartedNas();
    // Laptop's report says TEST_PACKAGE runs there.
    expect(versionBeforeToRun(node, { ...upgrade, package: TEST_PACKAGE })).toBeUndefined();
  });

  test("not when a device's report says the new version ran healthy there, stopped since", () => {
    const { node, zone, upgrade } = restartedNas();
    const stopped = {
      ...(readReport(node.db, "laptop", "notes") as AppReport),
      state: "stopped",
      url: null,
      ranHealthy: NEW_PACKAGE,
    };
    writeAs(zone, "laptop", [
      { key: appKeys.report("laptop", "notes"), value: JSON.stringify(stopped) },
    ]);
    expect(versionBeforeToRun(node, upgrade)).toBeUndefined();
  });

  test("not when its package is damaged here: it waits, and the daemon goes on", () => {
    const { node, before, upgrade } = restartedNas();
    const parsed = parseObjectId(before);
    if (parsed?.kind !== "chunk") throw new Error("a small package is one chunk");
    writeFileSync(node.store.chunkPath(parsed.id), "damaged");
    expect(versionBeforeToRun(node, upgrade)).toBeUndefined();
  });

  test("not without a version before, nor for an image app", () => {
    const { node, upgrade } = restartedNas();
    const { previousPackage: _, ...first } = upgrade;
    expect(versionBeforeToRun(node, first)).toBeUndefined();
    expect(
      versionBeforeToRun(node, { ...upgrade, image: { platforms: ["linux/amd64"] } }),
    ).toBeUndefined();
  });
});
