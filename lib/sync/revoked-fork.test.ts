/**
 * A revocation and a proof of the revoked device's fork, heard in any order: every device
 * ends with the same cut (before the fork, as the revoker would have cut had it known),
 * the same changesets and the same state, and says the device is revoked.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { type Changeset, signChangeset } from "../../protocol/changeset.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  type TestNode,
  testDeviceDocument,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { verifyNow } from "../state/verify.ts";
import { proofsLacking, proofsNamed, proofsVector, receiveProofs } from "./equivocation.ts";
import { headHashes, pullPage, versionVector } from "./exchange.ts";
import { ingestEntries } from "./ingest.ts";
import { loadMembership, membershipFromRows, standingOf } from "./membership.ts";

afterAll(removeTestDatabases);

const quiet = createLog({ level: "silent" });
const context = (node: TestNode) => ({
  zone: testZone.id,
  nowMs: 5000,
  log: quiet,
  source: "peer",
  seal: node.seal,
});

let nextSeed = 60;

/** Devices a, b, d (each may hold the owner key here) and s, the one stolen, all admitted by a. */
function zone(): { a: TestNode; b: TestNode; d: TestNode; s: TestNode; sId: DeviceId } {
  const [a, b, d, s] = [0, 1, 2, 3].map(() => openTestNode(nextSeed++)) as [
    TestNode,
    TestNode,
    TestNode,
    TestNode,
  ];
  appendLocalChangeset(
    a.db,
    { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
    foundingOps({ a: a.key, b: b.key, d: d.key, s: s.key }),
    1000,
  );
  for (const to of [b, d, s]) pass(a, to);
  return { a, b, d, s, sId: deviceIdFromPublicKey(s.key.publicKey) };
}

/** One exchange from `from` to `to`: the proofs `to` lacks, then the changesets. */
function pass(from: TestNode, to: TestNode): number {
  const proofs = proofsLacking(
    from.db,
    loadMembership(from.db, testZone.id),
    proofsNamed(to.db, testZone.id),
  );
  const moved = proofs.length === 0 ? 0 : receiveProofs(to.db, proofs, context(to));
  // As a pull does: the changesets held at `to`'s heads that differ too, none withheld.
  const withheld = new Map(proofsVector(loadMembership(from.db, testZone.id)));
  for (const [author, seq] of proofsNamed(to.db, testZone.id))
    withheld.set(author, Math.min(seq, withheld.get(author) ?? Number.POSITIVE_INFINITY));
  const { entries } = pullPage(from.db, versionVector(to.db), headHashes(to.db), withheld);
  const result = ingestEntries(to.db, entries, context(to));
  return (
    moved +
    result.applied.length +
    result.rejected.filter((r) => r.reason.startsWith("equivocation")).length
  );
}

/** Rounds of sync between every two, until nothing moves. */
function settle(nodes: TestNode[]): void {
  for (let round = 0; round < 10; round++) {
    let moved = 0;
    for (const from of nodes) for (const to of nodes) if (from !== to) moved += pass(from, to);
    if (moved === 0) return;
  }
  throw new Error("sync did not settle in 10 rounds");
}

/** s's changeset `seq` after `prev`, writing apps/x. */
function signedByS(s: TestNode, seq: number, prev: Changeset | null, value: string): Changeset {
  return signChangeset(
    {
      zone: testZone.id,
      author: deviceIdFromPublicKey(s.key.publicKey),
      seq,
      prev: prev?.hash ?? null,
      hlc: { ms: 2000 + seq * 10 + value.length, counter: 0 },
      ops: [{ key: "apps/x", value: JSON.stringify(value) }],
    },
    s.key,
  );
}

/** `by` revokes s, keeping its changesets up to `lastSeq` (signed as if it held no proof). */
function revoke(by: TestNode, byName: string, sId: DeviceId, lastSeq: number, atMs = 4000): void {
  const revocation = signRevocation(
    { id: sId, name: "s" as DeviceName, lastSeq, issuedAt: Math.floor(atMs / 1000) },
    testOwner,
  );
  appendLocalChangeset(
    by.db,
    { zone: testZone.id, name: byName, key: by.key, seal: by.seal },
    [{ key: "devices/s/revoked", value: JSON.stringify(revocation.jws) }],
    atMs,
  );
}

/** What every device must agree on, and what it says of s. */
function view(node: TestNode, sId: DeviceId) {
  const membership = loadMembership(node.db, testZone.id);
  return {
    state: node.db.$client.query("SELECT key, value, author, seq FROM state ORDER BY key").values(),
    ofS: node.db.$client
      .query("SELECT seq, hex(hash) FROM changesets WHERE author = ? ORDER BY seq")
      .values(sId),
    standing: standingOf(membership, sId),
    revokedAfterSeq: membership.byId.get(sId)?.revokedAfterSeq,
    problems: verifyNow(node.db.$client, node.seal, testZone.id).problems,
  };
}

function expectAgreed(nodes: TestNode[], sId: DeviceId, keptThrough: number, x: string): void {
  const [first, ...rest] = nodes.map((node) => view(node, sId));
  expect(first).toMatchObject({ standing: "revoked", revokedAfterSeq: keptThrough, problems: [] });
  expect(first?.ofS.map(([seq]) => seq)).toEqual(
    Array.from({ length: keptThrough }, (_, i) => i + 1),
  );
  expect(first?.state).toContainEqual(["apps/x", JSON.stringify(x), expect.any(String), 1]);
  for (const other of rest) expect(other).toEqual(first as typeof other);
}

describe("a revocation and a proof of the revoked device's fork", () => {
  test("revoked before the proof reached the revoker: both histories past the fork go, on every device", () => {
    const { a, b, d, s, sId } = zone();
    const first = signedByS(s, 1, null, "1");
    const side1 = signedByS(s, 2, first, "side1");
    const side2 = signedByS(s, 2, first, "side2!");
    for (const to of [a, b]) ingestEntries(to.db, [first.bytes, side1.bytes], context(to));
    ingestEntries(d.db, [first.bytes, side2.bytes], context(d));
    // a holds the owner key, and s's #2 of one history, and no proof (d was unreachable).
    revoke(a, "a", sId, 2);
    pass(a, b);
    pass(a, d);
    // The proof forms later (both halves met) and reaches everyone.
    const proof = makeProof(side1.bytes, side2.bytes).bytes;
    for (const to of [a, b, d]) receiveProofs(to.db, [proof], context(to));
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, 1, "1");
    // What it signed from the fork on is refused as a revoked device's, not a quarantined one's.
    expect(ingestEntries(b.db, [side1.bytes], context(b)).rejected).toEqual([
      expect.objectContaining({ reason: "its author was revoked" }),
    ]);
  });

  test("the proof reached the others before the revocation did", () => {
    const { a, b, d, s, sId } = zone();
    const first = signedByS(s, 1, null, "1");
    const side1 = signedByS(s, 2, first, "side1");
    const side2 = signedByS(s, 2, first, "side2!");
    const third = signedByS(s, 3, side1, "third");
    for (const to of [a, b])
      ingestEntries(to.db, [first.bytes, side1.bytes, third.bytes], context(to));
    ingestEntries(d.db, [first.bytes, side2.bytes], context(d));
    revoke(a, "a", sId, 3);
    const proof = makeProof(side1.bytes, side2.bytes).bytes;
    for (const to of [b, d]) receiveProofs(to.db, [proof], context(to));
    pass(a, b);
    pass(a, d);
    settle([d, b, a]);
    expectAgreed([a, b, d], sId, 1, "1");
  });

  test("two devices revoking at once, each keeping what it held", () => {
    const { a, b, d, s, sId } = zone();
    const first = signedByS(s, 1, null, "1");
    const side1 = signedByS(s, 2, first, "side1");
    const side2 = signedByS(s, 2, first, "side2!");
    const third = signedByS(s, 3, side1, "third");
    for (const to of [a, b])
      ingestEntries(to.db, [first.bytes, side1.bytes, third.bytes], context(to));
    ingestEntries(d.db, [first.bytes, side2.bytes], context(d));
    revoke(a, "a", sId, 3, 4000);
    revoke(d, "d", sId, 2, 4000);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, 1, "1");
  });

  test("a lower fork signed after the revocation keeps the device revoked, cut lower on every device", () => {
    const { a, b, d, s, sId } = zone();
    const one = signedByS(s, 1, null, "1");
    const two = signedByS(s, 2, one, "2");
    const three = signedByS(s, 3, two, "3");
    for (const to of [a, b, d])
      ingestEntries(to.db, [one.bytes, two.bytes, three.bytes], context(to));
    revoke(a, "a", sId, 3);
    settle([a, b, d]);
    expect(view(b, sId)).toMatchObject({ standing: "revoked", revokedAfterSeq: 3 });
    // The thief signs a second #2 after the revocation: what it wrote from #2 on goes.
    const twin = signedByS(s, 2, one, "twin!");
    receiveProofs(d.db, [makeProof(two.bytes, twin.bytes).bytes], context(d));
    settle([d, b, a]);
    expectAgreed([a, b, d], sId, 1, "1");
  });

  test("a fork at #1 keeps the cut signed; a checkpoint's frontier is never cut below", () => {
    const s = openTestNode(nextSeed++);
    const sId = deviceIdFromPublicKey(s.key.publicKey);
    const rows = (lastSeq: number) => [
      { key: "devices/s/doc", value: testDeviceDocument(s.key, "s") },
      {
        key: "devices/s/revoked",
        value: JSON.stringify(
          signRevocation({ id: sId, name: "s" as DeviceName, lastSeq, issuedAt: 4 }, testOwner).jws,
        ),
      },
    ];
    const member = (fork: number, settled: number) =>
      membershipFromRows(
        rows(5),
        testZone.id,
        new Map([[sId, fork]]),
        new Map([[sId, settled]]),
      ).byId.get(sId);
    expect(member(1, 0)).toMatchObject({ revokedAfterSeq: 5, refusedFromSeq: 1 });
    expect(member(3, 0)).toMatchObject({ revokedAfterSeq: 2, refusedFromSeq: 3 });
    expect(member(3, 4)).toMatchObject({ revokedAfterSeq: 4, refusedFromSeq: 3 });
    // Past the cut, the proof changes nothing.
    expect(member(7, 0)).toMatchObject({ revokedAfterSeq: 5, refusedFromSeq: 6 });
  });
});
