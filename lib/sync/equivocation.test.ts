import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { type Changeset, signChangeset } from "../../protocol/changeset.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import * as equivocation from "../../protocol/equivocation.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  type TestNode,
  testDeviceDocument,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { proofsLacking, proofsNamed, proofsVector, receiveProofs } from "./equivocation.ts";
import { versionVector } from "./exchange.ts";
import * as membershipModule from "./membership.ts";
import { loadMembership, membershipFromRows } from "./membership.ts";
import { quarantineNotes } from "./quarantine-notes.ts";

afterAll(removeTestDatabases);

const liar = signingKeyFromSeed(seed(31));
const stranger = signingKeyFromSeed(seed(32));
const liarId = deviceIdFromPublicKey(liar.publicKey);
const quiet = createLog({ level: "silent" });

/** A node of the test zone where `liar` (and the node itself) are members. */
function member(deviceSeed: number): TestNode {
  const node = openTestNode(deviceSeed);
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: "me", key: node.key, seal: node.seal },
    foundingOps({ me: node.key, liar }),
    1000,
  );
  return node;
}

function context(node: TestNode) {
  return { zone: testZone.id, nowMs: 5000, log: quiet, source: "peer", seal: node.seal };
}

/** The liar's changeset `seq` after a prev of `prevByte`s (none at seq 1). */
function signed(
  seq: number,
  value: string,
  prevByte = 0,
  signer = liar,
  zone: ZoneId = testZone.id,
): Changeset {
  return signChangeset(
    {
      zone,
      author: deviceIdFromPublicKey(signer.publicKey),
      seq,
      prev: seq === 1 ? null : new Uint8Array(32).fill(prevByte),
      hlc: { ms: 1000, counter: 0 },
      ops: [{ key: "apps/x", value }],
    },
    signer,
  );
}

function proofOf(seq: number, signer = liar, zone: ZoneId = testZone.id): Uint8Array {
  return makeProof(
    signed(seq, '"a"', 0, signer, zone).bytes,
    signed(seq, '"b"', 0, signer, zone).bytes,
  ).bytes;
}

describe("equivocation proofs from peers", () => {
  test("a member's proof quarantines it; the lowest seq's is kept, and passed on to who lacks it", () => {
    const node = member(40);
    expect(receiveProofs(node.db, [proofOf(5)], context(node))).toBe(1);
    expect(proofsVector(loadMembership(node.db, testZone.id))).toEqual(new Map([[liarId, 5]]));
    // One of a later seq is no news; one of an earlier one replaces it.
    expect(receiveProofs(node.db, [proofOf(7)], context(node))).toBe(0);
    expect(receiveProofs(node.db, [proofOf(3)], context(node))).toBe(1);
    const membership = loadMembership(node.db, testZone.id);
    expect(proofsVector(membership)).toEqual(new Map([[liarId, 3]]));
    // Passed on to a peer without one, or with one of a later seq; not to one as low.
    expect(proofsLacking(node.db, membership, new Map())).toEqual([proofOf(3)]);
    expect(proofsLacking(node.db, membership, new Map([[liarId, 4]]))).toEqual([proofOf(3)]);
    expect(proofsLacking(node.db, membership, new Map([[liarId, 3]]))).toEqual([]);
    // A third device takes what was passed on as it was made.
    const third = member(41);
    expect(
      receiveProofs(third.db, proofsLacking(node.db, membership, new Map()), context(third)),
    ).toBe(1);
    expect(quarantineNotes(membership)).toEqual([{ device: "liar", seq: 3 }]);
  });

  test("refuses, and passes on none of: a forged half, different prevs, two authors, a stranger's, another zone's", () => {
    const node = member(42);
    const forged = signed(2, '"b"').bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    const otherZone = openTestNode(43, 9).zone;
    const records = [
      makeProof(signed(2, '"a"').bytes, forged).bytes,
      proofOf(2, stranger),
      proofOf(2, liar, otherZone),
      new Uint8Array([1, 2, 3]),
    ];
    expect(receiveProofs(node.db, records, context(node))).toBe(0);
    // What is no fork point cannot even be made into a proof.
    expect(() => makeProof(signed(3, '"a"', 1).bytes, signed(3, '"b"', 2).bytes)).toThrow(
      "fork point",
    );
    expect(() => makeProof(signed(2, '"a"').bytes, signed(2, '"b"', 0, stranger).bytes)).toThrow(
      "of one zone, author and seq",
    );
    const membership = loadMembership(node.db, testZone.id);
    expect(membership.byId.get(liarId)?.quarantined).toBe(false);
    expect(proofsLacking(node.db, membership, new Map())).toEqual([]);
  });

  test("a proof past a revocation's cut changes nothing: kept and named to peers, not passed on, the device revoked", () => {
    const node = member(44);
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "me", key: node.key, seal: node.seal },
      [
        {
          key: "devices/liar/revoked",
          value: JSON.stringify(
            signRevocation(
              { id: liarId, name: "liar" as DeviceName, lastSeq: 4, issuedAt: 2 },
              testOwner,
            ).jws,
          ),
        },
      ],
      2000,
    );
    expect(receiveProofs(node.db, [proofOf(5)], context(node))).toBe(0);
    expect(receiveProofs(node.db, [proofOf(9)], context(node))).toBe(0);
    const membership = loadMembership(node.db, testZone.id);
    expect(membership.byId.get(liarId)).toMatchObject({
      quarantined: false,
      revokedAfterSeq: 4,
      refusedFromSeq: 5,
    });
    expect(proofsLacking(node.db, membership, new Map())).toEqual([]);
    // Named to peers all the same: one whose checkpoint puts it in effect (a frontier past
    // the fork keeps the revoked device's changesets up to it) does not send it every round.
    expect(proofsNamed(node.db, testZone.id)).toEqual(new Map([[liarId, 5]]));
    // One below it is news, and cuts nothing: the owner's cut stands, and a new revocation
    // would keep #1 to #2 (lib/sync/revoked-fork.test.ts); revoked still.
    expect(receiveProofs(node.db, [proofOf(3)], context(node))).toBe(1);
    const cut = loadMembership(node.db, testZone.id);
    expect(cut.byId.get(liarId)).toMatchObject({
      quarantined: true,
      forkSeq: 3,
      revokedAfterSeq: 4,
      refusedFromSeq: 5,
      recutSeq: 2,
    });
    expect(membershipModule.standingOf(cut, liarId)).toBe("revoked");
  });

  test("a proof of a revoked device's first changeset is news: it is said and passed on, refusing nothing the revocation keeps", () => {
    const node = member(49);
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "me", key: node.key, seal: node.seal },
      [
        {
          key: "devices/liar/revoked",
          value: JSON.stringify(
            signRevocation(
              { id: liarId, name: "liar" as DeviceName, lastSeq: 4, issuedAt: 2 },
              testOwner,
            ).jws,
          ),
        },
      ],
      2000,
    );
    // Membership changed (the caller forgets what it remembered of it, and passes it on).
    expect(receiveProofs(node.db, [proofOf(1)], context(node))).toBe(1);
    const membership = loadMembership(node.db, testZone.id);
    expect(membership.byId.get(liarId)).toMatchObject({
      forkSeq: 1,
      revokedAfterSeq: 4,
      refusedFromSeq: 5,
      recutSeq: 0,
    });
    expect(proofsLacking(node.db, membership, new Map())).toHaveLength(1);
  });

  test("a second first changeset refuses the device from #1 on; a checkpoint changes nothing of that", () => {
    const rows = [{ key: "devices/liar/doc", value: testDeviceDocument(liar, "liar") }];
    const standing = (frontier: number) =>
      membershipFromRows(
        rows,
        testZone.id,
        new Map([[liarId, 1]]),
        new Map([[liarId, frontier]]),
      ).byId.get(liarId);
    expect(standing(0)).toMatchObject({ quarantined: true, forkSeq: 1, refusedFromSeq: 1 });
    expect(standing(40)).toMatchObject({ quarantined: true, forkSeq: 1, refusedFromSeq: 1 });
  });

  test("a row of the quarantine table counts only if it is a proof of that device and seq that verifies", () => {
    const node = member(45);
    const meId = deviceIdFromPublicKey(node.key.publicKey);
    const row = (device: string, seq: number, kept: Uint8Array, conflicting: Uint8Array) =>
      node.db.$client
        .query(
          "INSERT INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, ?, 0, ?, ?)",
        )
        .run(device, seq, kept, conflicting);
    // Whoever can write the database but not sign as a device: the liar's halves put
    // under the honest device, and two changesets it never signed.
    const a = signed(2, '"a"');
    const b = signed(2, '"b"');
    row(meId, 2, a.bytes, b.bytes);
    const forged = b.bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    row(liarId, 2, a.bytes, forged);
    const membership = loadMembership(node.db, testZone.id);
    expect(membership.byId.get(meId)?.quarantined).toBe(false);
    expect(membership.byId.get(liarId)?.quarantined).toBe(false);
    expect(proofsNamed(node.db, testZone.id)).toEqual(new Map());
    // The liar's own proof, stored as received, does count; the seq must be the proof's.
    node.db.$client.run("DELETE FROM quarantine");
    row(liarId, 1, a.bytes, b.bytes);
    expect(loadMembership(node.db, testZone.id).byId.get(liarId)?.quarantined).toBe(false);
    node.db.$client.run("DELETE FROM quarantine");
    row(liarId, 2, a.bytes, b.bytes);
    expect(loadMembership(node.db, testZone.id).byId.get(liarId)?.forkSeq).toBe(2);
  });

  test("a row that does not verify blocks no proof of its device: a junk row of seq 0 is replaced", () => {
    const node = member(47);
    const junk = new Uint8Array([1, 2, 3]);
    node.db.$client
      .query(
        "INSERT INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, 0, 0, ?, ?)",
      )
      .run(liarId, junk, junk);
    expect(receiveProofs(node.db, [proofOf(5)], context(node))).toBe(1);
    expect(loadMembership(node.db, testZone.id).byId.get(liarId)?.forkSeq).toBe(5);
    expect(proofsNamed(node.db, testZone.id)).toEqual(new Map([[liarId, 5]]));
  });

  test("a message of many proofs checks one an author, the lowest, its seq and membership first", () => {
    const node = member(46);
    const verified = spyOn(equivocation, "verifyProof");
    const read = spyOn(membershipModule, "loadMembership");
    try {
      const many = Array.from({ length: 3000 }, (_, i) => proofOf(2 + (i % 50)));
      const strangers = Array.from({ length: 1000 }, () => proofOf(2, stranger));
      expect(receiveProofs(node.db, [...many, ...strangers], context(node))).toBe(1);
      expect(verified).toHaveBeenCalledTimes(1);
      expect(read.mock.calls.length).toBeLessThanOrEqual(1);
      expect(proofsNamed(node.db, testZone.id)).toEqual(new Map([[liarId, 2]]));
      // Again: held already, as low; nothing is verified.
      expect(receiveProofs(node.db, many, context(node))).toBe(0);
      expect(verified).toHaveBeenCalledTimes(1);
    } finally {
      verified.mockRestore();
      read.mockRestore();
    }
  });

  test("a forged proof of a lower seq does not hide a good one of the same device", () => {
    const node = member(48);
    const forged = signed(2, '"b"').bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    const bad = makeProof(signed(2, '"a"').bytes, forged).bytes;
    expect(receiveProofs(node.db, [bad, proofOf(4)], context(node))).toBe(1);
    expect(loadMembership(node.db, testZone.id).byId.get(liarId)?.forkSeq).toBe(4);
  });

  test("a device that learns it is itself quarantined writes nothing more: every peer would refuse it", () => {
    const node = member(47);
    const me = { zone: testZone.id, name: "me", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, me, [{ key: "apps/before", value: "1" }], 1500);
    expect(receiveProofs(node.db, [proofOf(3, node.key)], context(node))).toBe(1);
    const refused = (() => {
      try {
        appendLocalChangeset(node.db, me, [{ key: "apps/after", value: "1" }], 2000);
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(BuckyError);
    expect((refused as BuckyError).code).toBe("E_QUARANTINED");
    expect((refused as BuckyError).message).toContain("quarantined");
    expect((refused as BuckyError).hint).toContain("bucky devices revoke");
    // Where it alone held the owner key, another device can take it from the recovery phrase.
    expect((refused as BuckyError).hint).toContain("`bucky zone owner-key < phrase.txt` there");
    expect(versionVector(node.db).get(deviceIdFromPublicKey(node.key.publicKey))).toBe(2);
  });
});
