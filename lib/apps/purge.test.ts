/**
 * Only the owner purges an app: a removal's purge counts when the owner's grant in it was
 * signed for exactly that removal (its app, its time, the device whose write it is), and
 * `bucky app remove --purge` on a device without the owner key is refused before anything
 * is written.
 */
import { describe, expect, test } from "bun:test";
import { APP_PURGE_TYPE, signPurgeGrant } from "../../protocol/app-purge.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { signJws } from "../../protocol/jws.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { recordAppObject } from "../ndn/stored-files.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  seed,
  type TestNode,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { stateRowsMatching, stateValue } from "../store/reads.ts";
import { loadMembership } from "../sync/membership.ts";
import { removeApp } from "./admin.ts";
import { PurgeGrants } from "./owner-grants.ts";
import { asCarriedOut, deletePurgedState, purgeGranted, ungrantedPurges } from "./purge.ts";
import { type AppSpec, appKeys, readSpec } from "./spec.ts";
import { testSpec } from "./test-spec.ts";

const REMOVED_AT = "2026-11-29T12:00:00.000Z";
const laptopKey = signingKeyFromSeed(seed(71));
const grants = new PurgeGrants(testZone.id);

/** A zone of a (holding the owner key, in these tests) and laptop, a member. */
function zone(): TestNode {
  const a = openTestNode(70);
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    [
      ...foundingOps({ a: a.key, laptop: laptopKey }),
      { key: appKeys.spec("notes"), value: JSON.stringify(testSpec("notes")) },
    ],
    1000,
  );
  return a;
}

/** `spec` written as the spec of its app by `by` (a's key, or the laptop's). */
function writeSpec(node: TestNode, spec: AppSpec, by: "a" | "laptop"): void {
  const key = by === "a" ? node.key : laptopKey;
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: by, key, seal: node.seal },
    [{ key: appKeys.spec(spec.app), value: JSON.stringify(spec) }],
    2000,
  );
}

/** The removal of notes at REMOVED_AT, asking for a purge, with the owner's grant for `device`'s write. */
function purgeBy(node: TestNode, device: "a" | "laptop", removedAt = REMOVED_AT): AppSpec {
  const key = device === "a" ? node.key : laptopKey;
  const grant = signPurgeGrant(
    {
      zone: testZone.id,
      app: "notes",
      device: deviceIdFromPublicKey(key.publicKey),
      removedAt,
    },
    testOwner,
  );
  return testSpec("notes", {
    desired: "removed",
    purge: true,
    purgeGrant: grant.jws,
    updatedAt: REMOVED_AT,
  });
}

describe("an app's purge", () => {
  test("counts with the owner's grant for that removal, written by the device it names", () => {
    const node = zone();
    const spec = purgeBy(node, "a");
    writeSpec(node, spec, "a");
    expect(purgeGranted(node.db, grants, spec)).toBe(true);
    expect(asCarriedOut(node.db, grants, spec)).toEqual(spec);
    expect(ungrantedPurges(node.db, grants, loadMembership(node.db, testZone.id), [spec])).toEqual(
      [],
    );
  });

  test("written by another device (a member replaying the owner's grant) deletes nothing, and names that device", () => {
    const node = zone();
    const spec = purgeBy(node, "a");
    writeSpec(node, spec, "laptop");
    expect(purgeGranted(node.db, grants, spec)).toBe(false);
    expect(asCarriedOut(node.db, grants, spec).purge).toBe(false);
    expect(ungrantedPurges(node.db, grants, loadMembership(node.db, testZone.id), [spec])).toEqual([
      { app: "notes", writtenBy: "laptop" },
    ]);
  });

  test("without a grant, with one for another removal, or signed by another key, deletes nothing", () => {
    const node = zone();
    const { purgeGrant: _, ...bare } = purgeBy(node, "laptop");
    const earlier = {
      ...purgeBy(node, "laptop", "2026-11-28T12:00:00.000Z"),
      updatedAt: REMOVED_AT,
    };
    const forged = {
      ...bare,
      // Signed by the member's own key, the zone's id in the header.
      purgeGrant: signJws(
        { alg: "EdDSA", typ: APP_PURGE_TYPE, kid: testZone.id },
        {
          zone: testZone.id,
          app: "notes",
          device: deviceIdFromPublicKey(laptopKey.publicKey),
          removedAt: REMOVED_AT,
        },
        laptopKey,
      ),
    };
    for (const spec of [bare, earlier, { ...purgeBy(node, "laptop"), app: "other" }]) {
      writeSpec(node, spec, "laptop");
      expect(purgeGranted(node.db, grants, spec)).toBe(false);
    }
    expect(() => writeSpec(node, forged, "laptop")).not.toThrow();
    expect(purgeGranted(node.db, grants, forged)).toBe(false);
    // The laptop's own grant, for its own write of this removal: the owner's.
    const granted = purgeBy(node, "laptop");
    writeSpec(node, granted, "laptop");
    expect(purgeGranted(node.db, grants, granted)).toBe(true);
  });

  test("bucky app remove --purge on a device without the owner key is refused, and nothing is written", () => {
    const node = zone();
    const context = testNodeContext(node, "a", { now: () => 5000 });
    let refused: unknown;
    try {
      removeApp(context, "notes", true);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(BuckyError);
    expect({
      code: (refused as BuckyError).code,
      message: (refused as BuckyError).message,
      hint: (refused as BuckyError).hint,
    }).toEqual({
      code: "E_PERMISSION",
      message:
        "only the owner may purge notes (delete its data and every copy of it, on every device), and this device does not hold the owner key",
      hint: "Run `bucky app remove notes --purge` on the device holding the owner key, or `bucky app remove notes` without --purge here: the app is removed and its data kept.",
    });
    expect(readSpec(node.db, "notes")?.desired).toBe("running");
    expect(stateValue(node.db, appKeys.spec("notes"))).toBe(JSON.stringify(testSpec("notes")));
  });
});

describe("what a purged app kept in the zone", () => {
  test("is let go by the device that ran it, its objects' records too, written before it heard of the purge", () => {
    const a = zone();
    const node = testNodeContext(a, "a");
    // Recorded through the app's API on this device while the owner's purge was on its way.
    const id = `sha256:${"5a".repeat(32)}` as ObjectId;
    recordAppObject(node, "a", "notes", { id, sizeBytes: 5 });
    node.write([{ key: "apps/notes/latest", value: '"a note"' }]);
    expect(deletePurgedState(node, "notes")).toBe(2);
    expect(stateRowsMatching(a.db, "apps/notes/*").filter((row) => row.value !== null)).toEqual([]);
    expect(
      stateRowsMatching(a.db, "system/files/apps/notes/*").filter((row) => row.value !== null),
    ).toEqual([]);
  });
});
