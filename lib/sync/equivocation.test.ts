import { describe, expect, test } from "bun:test";
import { type Changeset, signChangeset } from "../../protocol/changeset.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { createLog } from "../log.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import { proofsLacking, proofsVector, quarantineNotes, receiveProofs } from "./equivocation.ts";
import type { Member, Membership } from "./membership.ts";

const liar = signingKeyFromSeed(seed(31));
const stranger = signingKeyFromSeed(seed(32));
const liarId = deviceIdFromPublicKey(liar.publicKey);
const NOW = 1_800_000_000_000;
const quiet = createLog({ level: "silent" });

function membership(quarantined = false): Membership {
  const member: Member = { id: liarId, name: "liar" as DeviceName, admittedAtMs: 0, quarantined };
  return { byId: new Map([[member.id, member]]), byName: new Map([["liar", member]]) };
}

function signed(zone: ZoneId, seq: number, value: string, signer = liar): Changeset {
  return signChangeset(
    {
      zone,
      author: deviceIdFromPublicKey(signer.publicKey),
      seq,
      prev: seq === 1 ? null : new Uint8Array(32),
      hlc: { ms: 1000, counter: 0 },
      ops: [{ key: "apps/x", value }],
    },
    signer,
  );
}

function proofOf(zone: ZoneId, seq: number, signer = liar): Uint8Array {
  return makeProof(signed(zone, seq, '"a"', signer).bytes, signed(zone, seq, '"b"', signer).bytes)
    .bytes;
}

describe("equivocation proofs from peers", () => {
  test("a member's proof quarantines it; the lowest seq's is kept, and passed on to who lacks it", () => {
    const { db, zone } = openTestNode(40);
    const context = { zone, membership: membership(), nowMs: NOW, log: quiet, source: "peer" };
    expect(receiveProofs(db, [proofOf(zone, 5)], context)).toBe(1);
    expect(proofsVector(db)).toEqual(new Map([[liarId, 5]]));
    // One of a later seq is no news; one of an earlier one replaces it.
    expect(receiveProofs(db, [proofOf(zone, 7)], context)).toBe(0);
    expect(receiveProofs(db, [proofOf(zone, 3)], context)).toBe(1);
    expect(proofsVector(db)).toEqual(new Map([[liarId, 3]]));
    // Passed on to a peer without one, or with one of a later seq; not to one as low.
    expect(proofsLacking(db, new Map())).toEqual([proofOf(zone, 3)]);
    expect(proofsLacking(db, new Map([[liarId, 4]]))).toEqual([proofOf(zone, 3)]);
    expect(proofsLacking(db, new Map([[liarId, 3]]))).toEqual([]);
    // A third device takes what was passed on as it was made.
    const third = openTestNode(41);
    expect(
      receiveProofs(third.db, proofsLacking(db, new Map()), {
        ...context,
        zone: third.zone,
      }),
    ).toBe(1);
    expect(quarantineNotes(db, membership(true))).toEqual([{ device: "liar", seq: 3 }]);
  });

  test("passes over a stranger's proof, another zone's, a forged half and what is no proof", () => {
    const { db, zone } = openTestNode(42);
    const context = { zone, membership: membership(), nowMs: NOW, log: quiet, source: "peer" };
    const otherZone = openTestNode(43, 9).zone;
    const forged = signed(zone, 2, '"b"').bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    const kept = receiveProofs(
      db,
      [
        proofOf(zone, 2, stranger),
        proofOf(otherZone, 2),
        makeProof(signed(zone, 2, '"a"').bytes, forged).bytes,
        new Uint8Array([1, 2, 3]),
      ],
      context,
    );
    expect(kept).toBe(0);
    expect(proofsVector(db).size).toBe(0);
  });
});
