/**
 * `bucky app remove` of an app whose spec this device cannot read: one no bucky can read
 * is deleted (the owner's way out); one a newer bucky wrote is refused unless forced, since
 * the devices that run the newer bucky run it.
 */
import { describe, expect, test } from "bun:test";
import type { ObjectId } from "../../protocol/ndn.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, testZone } from "../state/test-db.ts";
import { stateValue } from "../store/reads.ts";
import { checkPlacement, removeApp, writeSpec } from "./admin.ts";
import { appKeys, readSpec } from "./spec.ts";
import { testManifest, testSpec } from "./test-spec.ts";

const NEWER = "it was written by a newer bucky (spec format 2; this device reads up to 1)";

function zoneWithSpecs(): NodeContext {
  const a = openTestNode(60);
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    [
      ...foundingOps({ a: a.key }),
      { key: appKeys.spec("future"), value: JSON.stringify({ format: 2, app: "future" }) },
      { key: appKeys.spec("five"), value: "5" },
    ],
    1000,
  );
  return testNodeContext(a, "a", { log: createLog({ level: "silent" }), now: () => 5000 });
}

describe("removing an app whose spec this device cannot read", () => {
  test("one a newer bucky wrote is refused, and kept, unless forced", () => {
    const node = zoneWithSpecs();
    let refused: unknown;
    try {
      removeApp(node, "future");
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(BuckyError);
    expect([(refused as BuckyError).code, (refused as BuckyError).message]).toEqual([
      "E_USAGE",
      `future was installed by a newer bucky than this device's: ${NEWER}`,
    ]);
    expect((refused as BuckyError).hint).toContain("`bucky app remove future --force`");
    expect(stateValue(node.db, appKeys.spec("future"))).toBe(
      JSON.stringify({ format: 2, app: "future" }),
    );

    expect(removeApp(node, "future", false, true)).toEqual({
      app: "future",
      desired: "removed",
      unreadable: NEWER,
      newer: true,
    });
    expect(stateValue(node.db, appKeys.spec("future"))).toBeNull();
  });

  test("one no bucky can read is deleted without force, with the acts beside it", () => {
    const node = zoneWithSpecs();
    node.write([
      { key: appKeys.share("five"), value: JSON.stringify({ shared: ["ann"], sharedAt: "x" }) },
    ]);
    expect(removeApp(node, "five")).toEqual({
      app: "five",
      desired: "removed",
      unreadable: "a spec must be a map",
    });
    // A share of before would otherwise hold for an install of the app anew.
    expect(stateValue(node.db, appKeys.share("five"))).toBeNull();
  });
});

describe("where an upgrade runs", () => {
  function zoneWith(specs: ReturnType<typeof testSpec>[]): NodeContext {
    const a = openTestNode(61);
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
      [
        ...foundingOps({ a: a.key }),
        ...specs.map((spec) => ({ key: appKeys.spec(spec.app), value: JSON.stringify(spec) })),
      ],
      1000,
    );
    return testNodeContext(a, "a", { log: createLog({ level: "silent" }), now: () => 5000 });
  }
  const newVersion = (id: string) => testManifest(id, { version: "2.0.0" });

  test("where the app was put, not the new manifest's placement; --device over both", () => {
    const node = zoneWith([
      testSpec("notes", { placement: "a" }),
      testSpec("diary", { desired: "removed", placement: "a" }),
    ]);
    expect(checkPlacement(node, newVersion("notes"), {})).toBe("a");
    expect(checkPlacement(node, newVersion("notes"), { device: "any" })).toBe("any");
    // A first install, or one after a removal: the manifest's.
    expect(checkPlacement(node, newVersion("photos"), {})).toBe("any");
    expect(checkPlacement(node, newVersion("diary"), {})).toBe("any");
  });

  test("keeps what the owner asked of the app: whom it is shared with, its move, a conflict copy to restore", () => {
    const asked = {
      shared: ["ann"],
      sharedAt: "2026-12-02T09:00:00.000Z",
      moveTo: "a",
      movedAt: "2026-12-02T09:01:00.000Z",
      restoreCopy: {
        device: "a",
        name: conflictCopyName(Date.parse("2026-12-02T08:00:00.000Z"), "a", 1),
        at: "2026-12-02T09:02:00.000Z",
      },
    };
    const node = zoneWith([testSpec("notes", asked)]);
    writeSpec(node, newVersion("notes"), `sha256:${"cd".repeat(32)}` as ObjectId, "any", {});
    expect(readSpec(node.db, "notes")).toMatchObject({ version: "2.0.0", ...asked });
  });

  test("pinned to a device gone from the zone, it says so and how to choose", () => {
    const node = zoneWith([testSpec("notes", { placement: "gone" })]);
    let refused: unknown;
    try {
      checkPlacement(node, newVersion("notes"), {});
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(BuckyError);
    expect([(refused as BuckyError).message, (refused as BuckyError).hint]).toEqual([
      "notes runs on gone, which is no device of the zone now",
      "Say where the new version runs with --device (or --device any).",
    ]);
  });
});
