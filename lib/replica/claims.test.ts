/**
 * A holder claim is written by the device that holds the app, as it likes: what it names
 * (the conflict copy it took over with) is read only when it is a name of its kind, since
 * `bucky app status` and the panel show it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { DeviceId } from "../../protocol/ids.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { foundingOps, openTestNode, removeTestDatabases, testZone } from "../state/test-db.ts";
import type { Member, Membership } from "../sync/membership.ts";
import { parseClaim, readClaims } from "./claims.ts";
import { readDraining } from "./zone-holding.ts";

afterAll(removeTestDatabases);

const id = "d".repeat(52) as DeviceId;
const copy = conflictCopyName(Date.UTC(2026, 10, 29, 9, 35), "nas", 2);
const claim = (fields: Record<string, unknown>) =>
  parseClaim(
    JSON.stringify({ epoch: 3, since: "2026-11-29T09:36:00.000Z", from: null, ...fields }),
    "laptop",
    id,
  );

describe("a holder claim", () => {
  test("the conflict copy it took over with is read when it is a conflict copy's name", () => {
    expect(claim({ restoredCopy: copy })?.restoredCopy).toBe(copy);
  });

  test("a conflict copy's 'name' that is not one is left out, the claim kept", () => {
    const lured = claim({ restoredCopy: "x\n! the owner must run: bucky devices revoke nas" });
    expect(lured).toEqual({
      device: "laptop",
      deviceId: id,
      epoch: 3,
      since: "2026-11-29T09:36:00.000Z",
      from: null,
      lostAtMostMs: null,
    });
  });
});

describe("why a takeover's loss is not known", () => {
  test("is read only with no figure beside it, and cut to a bounded length", () => {
    expect(claim({ lostAtMostMs: null, lostUnknownReason: "it was away" })).toMatchObject({
      lostAtMostMs: null,
      lostUnknownReason: "it was away",
    });
    expect(claim({ lostAtMostMs: 700, lostUnknownReason: "it was away" })).not.toHaveProperty(
      "lostUnknownReason",
    );
    expect(
      claim({ lostAtMostMs: null, lostUnknownReason: "x".repeat(10_000) })?.lostUnknownReason,
    ).toHaveLength(400);
  });
});

describe("the snapshot a holder says it started from", () => {
  const from = { device: "nas", epoch: 2, seq: 40, at: 1_764_400_000_000, content: "ab12" };

  test("is read when of its shape", () => {
    expect(claim({ from })?.from).toEqual(from);
  });

  test("is read as none when it is not, the claim kept", () => {
    for (const wrong of [5, [], "nas", { ...from, epoch: "2" }, { ...from, device: null }])
      expect(claim({ from: wrong })?.from).toBeNull();
  });
});

describe("keys of more segments than a pattern shows", () => {
  /** A zone of one device, "a", that wrote `ops`. */
  function zoneWith(seed: number, ops: { key: string; value: string }[]) {
    const node = openTestNode(seed);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key }), 1000);
    appendLocalChangeset(node.db, author, ops, 2000);
    return testNodeContext(node, "a");
  }

  test("a claim is one at nodes/<device>/holds/<app> of an app's name, no other key", () => {
    const claim = (epoch: number) => JSON.stringify({ epoch, since: "2026-11-29T09:36:00.000Z" });
    const zone = zoneWith(92, [
      { key: "nodes/a/holds/notes", value: claim(2) },
      // A claim of "notes" the device let go of would stand for ever at a key of its own.
      { key: "nodes/a/holds/notes/x", value: claim(9) },
      { key: "nodes/a/x/holds/photos", value: claim(9) },
      { key: "nodes/a/holds/Not_An-App", value: claim(9) },
    ]);
    const claims = readClaims(zone.db, zone.membership());
    expect([...claims].map(([app, list]) => [app, list.map((c) => c.epoch)])).toEqual([
      ["notes", [2]],
    ]);
  });

  test("a quarantined device's claim stands, the data it held not taken for none; a revoked one's does not", () => {
    const zone = zoneWith(94, [
      { key: "nodes/a/holds/notes", value: JSON.stringify({ epoch: 2, since: "" }) },
    ]);
    const membership = zone.membership();
    const a = membership.byName.get("a") as Member;
    const standing = (changed: Member): Membership => ({
      byId: new Map([[a.id, changed]]),
      byName: new Map([["a", changed]]),
    });
    const epochs = (m: Membership) =>
      readClaims(zone.db, m)
        .get("notes")
        ?.map((c) => c.epoch);
    expect(epochs(membership)).toEqual([2]);
    expect(epochs(standing({ ...a, quarantined: true, forkSeq: 3, refusedFromSeq: 3 }))).toEqual([
      2,
    ]);
    expect(epochs(standing({ ...a, revokedAfterSeq: 2, refusedFromSeq: 3 }))).toBeUndefined();
  });

  test("a device being drained is one named by a device's name, no other key", () => {
    const zone = zoneWith(93, [
      { key: "system/drain/beta", value: "true" },
      { key: "system/drain/beta/x", value: "true" },
      { key: "system/drain/notes/data", value: "true" },
    ]);
    expect([...readDraining(zone.db)]).toEqual(["beta"]);
  });
});
