/**
 * An app the owner let run without a sandbox, upgraded with the owner's grant again and
 * given up for the version before (an upgrade that crashes at every start): the version
 * before runs bare with its own grant, kept beside its package, and with nothing else.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { ObjectId } from "../../protocol/ndn.ts";
import { ownerTestContext } from "../node/test-node-context.ts";
import { foundingOps, openTestNode, removeTestDatabases } from "../state/test-db.ts";
import { writeSpec } from "./admin.ts";
import { UnsandboxedGrants } from "./owner-grants.ts";
import { type AppSpec, readSpec, rolledBackSpec, specOfVersionBefore } from "./spec.ts";
import { testManifest } from "./test-spec.ts";
import { unsandboxedGranted } from "./unsandboxed.ts";

afterAll(removeTestDatabases);

const pkg = (byte: string) => `sha256:${byte.repeat(64)}` as ObjectId;

describe("a rollback of an app run without a sandbox", () => {
  test("runs the version before with its own grant, and a manifest changed in the rollback's record with none", () => {
    const node = openTestNode(95);
    const zone = ownerTestContext(node, "a");
    zone.write(foundingOps({ a: node.key }));
    const v1 = testManifest("site", { version: "1.0.0" });
    const v2 = testManifest("site", { version: "2.0.0" });
    writeSpec(zone, v1, pkg("a"), "any", { unsandboxed: true });
    writeSpec(zone, v2, pkg("b"), "any", { unsandboxed: true });
    const upgraded = readSpec(zone.db, "site") as AppSpec;
    expect(upgraded).toMatchObject({ package: pkg("b"), previousPackage: pkg("a") });
    const grants = new UnsandboxedGrants(zone.zoneId);
    expect(unsandboxedGranted(grants, upgraded)).toBe(true);
    const back = {
      package: pkg("b"),
      installedAt: upgraded.installedAt ?? null,
      backTo: { package: pkg("a"), manifest: v1 },
      error: "it crashed at every start",
      device: "a",
      at: "2026-12-03T10:00:00.000Z",
    };
    expect(unsandboxedGranted(grants, rolledBackSpec(upgraded, back))).toBe(true);
    // The record of the rollback is a member's: another command in it is not the one granted.
    const altered = { ...v1, run: { ...v1.run, command: ["sh", "-c", "id"] } };
    const forged = rolledBackSpec(upgraded, {
      ...back,
      backTo: { ...back.backTo, manifest: altered },
    });
    expect(unsandboxedGranted(grants, forged)).toBe(false);
    // A device restarted while the upgrade waits runs the version before the same way.
    expect(unsandboxedGranted(grants, specOfVersionBefore(upgraded, pkg("a"), v1))).toBe(true);
  });
});
