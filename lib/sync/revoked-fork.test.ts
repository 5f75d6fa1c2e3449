/**
 * A revocation and a proof of the revoked device's fork, heard in any order: a proof never
 * lowers the cut the owner signed (a thief holding the key could then drop, on every
 * device, what the device wrote and the devices it admitted); every device says the fork,
 * and the owner's revocation again, before it, drops the same on every device.
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
import {
  forksKnown,
  proofsLacking,
  proofsNamed,
  receiveProofs,
  withheldFrom,
} from "./equivocation.ts";
import { headHashes, pullPage, versionVector } from "./exchange.ts";
import { dropRevokedByOwnWrite, ingestEntries } from "./ingest.ts";
import { loadMembership, membershipFromRows, standingOf } from "./membership.ts";
import { revokedForkNotes } from "./quarantine-notes.ts";

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
  const withheld = withheldFrom(
    loadMembership(from.db, testZone.id),
    proofsNamed(to.db, testZone.id),
  );
  const { entries } = pullPage(
    from.db,
    versionVector(to.db),
    headHashes(to.db),
    withheld,
    undefined,
    forksKnown(loadMembership(from.db, testZone.id), proofsNamed(to.db, testZone.id)),
  );
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
    // As a node's write does: what it holds past the cut goes in the same transaction.
    (written) => dropRevokedByOwnWrite(by.db, written, context(by)),
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

/** Every device holds s's changesets #1 to `held`, the same ones, with the same state. */
function expectAgreed(
  nodes: TestNode[],
  sId: DeviceId,
  cut: { keptThrough: number; held?: number; x: string; xSeq?: number },
): void {
  const [first, ...rest] = nodes.map((node) => view(node, sId));
  expect(first).toMatchObject({
    standing: "revoked",
    revokedAfterSeq: cut.keptThrough,
    problems: [],
  });
  expect(first?.ofS.map(([seq]) => seq)).toEqual(
    Array.from({ length: cut.held ?? cut.keptThrough }, (_, i) => i + 1),
  );
  expect(first?.state).toContainEqual([
    "apps/x",
    JSON.stringify(cut.x),
    expect.any(String),
    cut.xSeq ?? 1,
  ]);
  for (const other of rest) expect(other).toEqual(first as typeof other);
}

/** What each device says of s's fork: the same on every device. */
function notesOf(nodes: TestNode[]) {
  const [first, ...rest] = nodes.map((node) =>
    revokedForkNotes(node.db, loadMembership(node.db, testZone.id)),
  );
  for (const other of rest) expect(other).toEqual(first as typeof other);
  return first;
}

describe("a revocation and a proof of the revoked device's fork", () => {
  test("a thief's fork of a revoked device drops nothing: the owner's cut stands, with the devices it admitted", () => {
    const { a, b, d, s, sId } = zone();
    const e = openTestNode(nextSeed++);
    const eId = deviceIdFromPublicKey(e.key.publicKey);
    const one = signedByS(s, 1, null, "1");
    // s's honest #2 admits e (the device that admits a joiner writes its document).
    const two = signChangeset(
      {
        zone: testZone.id,
        author: sId,
        seq: 2,
        prev: one.hash,
        hlc: { ms: 2020, counter: 0 },
        ops: [{ key: "devices/e/doc", value: testDeviceDocument(e.key, "e") }],
      },
      s.key,
    );
    const three = signedByS(s, 3, two, "3");
    for (const to of [a, b, d])
      ingestEntries(to.db, [one.bytes, two.bytes, three.bytes], context(to));
    pass(a, e);
    appendLocalChangeset(
      e.db,
      { zone: testZone.id, name: "e", key: e.key, seal: e.seal },
      [{ key: "apps/e", value: JSON.stringify("mine") }],
      3000,
    );
    settle([a, b, d, e]);
    // s is stolen: the owner revokes it keeping all it signed; the thief signs a second #2.
    revoke(a, "a", sId, 3);
    settle([a, b, d, e]);
    const twin = signedByS(s, 2, one, "thief");
    receiveProofs(b.db, [makeProof(two.bytes, twin.bytes).bytes], context(b));
    settle([a, b, d, e]);
    expectAgreed([a, b, d, e], sId, { keptThrough: 3, x: "3", xSeq: 3 });
    for (const node of [a, b, d, e]) {
      expect(standingOf(loadMembership(node.db, testZone.id), eId)).toBe("member");
      expect(
        node.db.$client.query("SELECT value FROM state WHERE key = 'apps/e'").values(),
      ).toEqual([[JSON.stringify("mine")]]);
    }
    // Every device says it, and what revoking it again would drop.
    expect(notesOf([a, b, d, e])).toEqual([
      { device: "s", keptSeq: 3, seq: 2, recutSeq: 1, admitted: ["e"] },
    ]);
    // The owner revokes it again, before the fork: that drops, the same on every device.
    revoke(a, "a", sId, 1, 6000);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 1, x: "1" });
    for (const node of [a, b, d])
      expect(standingOf(loadMembership(node.db, testZone.id), eId)).toBe("unknown");
    expect(notesOf([a, b, d])).toEqual([]);
  });

  test("what revoking again would drop names every device it takes out (those they admitted too) and none that stays", () => {
    const { a, b, d, s, sId } = zone();
    const [t, u, v] = [0, 1, 2].map(() => openTestNode(nextSeed++)) as [
      TestNode,
      TestNode,
      TestNode,
    ];
    const tId = deviceIdFromPublicKey(t.key.publicKey);
    // a admits v; s's #2 admits t and writes v's document again (the same); t admits u.
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
      [{ key: "devices/v/doc", value: testDeviceDocument(v.key, "v") }],
      1500,
    );
    const one = signedByS(s, 1, null, "1");
    const two = signChangeset(
      {
        zone: testZone.id,
        author: sId,
        seq: 2,
        prev: one.hash,
        hlc: { ms: 2020, counter: 0 },
        ops: [
          { key: "devices/t/doc", value: testDeviceDocument(t.key, "t") },
          { key: "devices/v/doc", value: testDeviceDocument(v.key, "v") },
        ],
      },
      s.key,
    );
    const ofT = signChangeset(
      {
        zone: testZone.id,
        author: tId,
        seq: 1,
        prev: null,
        hlc: { ms: 2500, counter: 0 },
        ops: [{ key: "devices/u/doc", value: testDeviceDocument(u.key, "u") }],
      },
      t.key,
    );
    settle([a, b, d]);
    for (const to of [a, b, d]) {
      ingestEntries(to.db, [one.bytes, two.bytes], context(to));
      expect(ingestEntries(to.db, [ofT.bytes], context(to)).applied).toHaveLength(1);
    }
    revoke(a, "a", sId, 2);
    settle([a, b, d]);
    // A thief signs a second #2: every device says what revoking again, keeping #1, drops.
    const twin = signedByS(s, 2, one, "thief");
    receiveProofs(b.db, [makeProof(two.bytes, twin.bytes).bytes], context(b));
    settle([a, b, d]);
    expect(notesOf([a, b, d])).toEqual([
      { device: "s", keptSeq: 2, seq: 2, recutSeq: 1, admitted: ["t", "u"] },
    ]);
    // And that is what it drops: t and u go, v (which a admitted) stays.
    revoke(a, "a", sId, 1, 6000);
    settle([a, b, d]);
    for (const node of [a, b, d])
      expect(
        ["t", "u", "v"].map((name) => loadMembership(node.db, testZone.id).byName.has(name)),
      ).toEqual([false, false, true]);
  });

  test("a fork at #1 of a revoked device: what the revocation keeps still reaches every device", () => {
    const { a, b, d, s, sId } = zone();
    const one = signedByS(s, 1, null, "1");
    const two = signedByS(s, 2, one, "2");
    const three = signedByS(s, 3, two, "3");
    for (const to of [a, b]) ingestEntries(to.db, [one.bytes, two.bytes, three.bytes], context(to));
    revoke(a, "a", sId, 3);
    // d holds none of s's, and the proof of a second #1 first.
    const proof = makeProof(one.bytes, signedByS(s, 1, null, "thief").bytes).bytes;
    for (const to of [b, d]) receiveProofs(to.db, [proof], context(to));
    pass(a, d);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 3, x: "3", xSeq: 3 });
    expect(notesOf([a, b, d])).toEqual([
      { device: "s", keptSeq: 3, seq: 1, recutSeq: 0, admitted: [] },
    ]);
  });

  test("revoked before the proof reached the revoker: nothing drops until the owner revokes again", () => {
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
    // The proof forms later (both halves met) and reaches everyone: it drops nothing.
    const proof = makeProof(side1.bytes, side2.bytes).bytes;
    for (const to of [a, b, d]) receiveProofs(to.db, [proof], context(to));
    settle([a, b, d]);
    for (const node of [a, b, d])
      expect(view(node, sId)).toMatchObject({ revokedAfterSeq: 2, problems: [] });
    // Each keeps the history it held: a the first #2, d the second.
    const held = (node: TestNode) => view(node, sId).ofS.map(([, hash]) => hash);
    expect(held(a)).toEqual(held(b));
    expect(held(d)).toHaveLength(2);
    expect(held(d)[1]).not.toEqual(held(a)[1]);
    expect(notesOf([a, b, d])).toEqual([
      { device: "s", keptSeq: 2, seq: 2, recutSeq: 1, admitted: [] },
    ]);
    revoke(a, "a", sId, 1, 6000);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 1, x: "1" });
    // What it signed from there on is refused as a revoked device's, not a quarantined one's.
    expect(ingestEntries(b.db, [side1.bytes], context(b)).rejected).toEqual([
      expect.objectContaining({ reason: "its author was revoked" }),
    ]);
  });

  test("two devices revoking at once, each keeping what it held, then revoking again", () => {
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
    // The proof forms where both #2 meet, and goes to every device.
    const proof = makeProof(side1.bytes, side2.bytes).bytes;
    receiveProofs(b.db, [proof], context(b));
    settle([a, b, d]);
    const [note] = notesOf([a, b, d]) ?? [];
    expect(note).toMatchObject({ device: "s", seq: 2, recutSeq: 1 });
    revoke(b, "b", sId, 1, 7000);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 1, x: "1" });
  });

  test("a member writing the first revocation again after the owner revoked again, lower, changes nothing, on every device", () => {
    const { a, b, d, s, sId } = zone();
    const one = signedByS(s, 1, null, "1");
    const two = signedByS(s, 2, one, "2");
    const three = signedByS(s, 3, two, "3");
    const four = signedByS(s, 4, three, "4");
    const threeF = signedByS(s, 3, two, "forged3");
    const fourF = signedByS(s, 4, threeF, "forged4");
    for (const n of [a, b])
      ingestEntries(n.db, [one.bytes, two.bytes, three.bytes, four.bytes], context(n));
    ingestEntries(d.db, [one.bytes, two.bytes, threeF.bytes, fourF.bytes], context(d));
    const first = signRevocation(
      { id: sId, name: "s" as DeviceName, lastSeq: 4, issuedAt: 4 },
      testOwner,
    );
    appendLocalChangeset(
      a.db,
      { zone: testZone.id, name: "a", key: a.key, seal: a.seal },
      [{ key: "devices/s/revoked", value: JSON.stringify(first.jws) }],
      4000,
      (written) => dropRevokedByOwnWrite(a.db, written, context(a)),
    );
    settle([a, b, d]);
    revoke(a, "a", sId, 2, 6000);
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 2, x: "2", xSeq: 2 });
    // d (hostile, or its key stolen) writes the owner's first revocation again, later: the
    // one keeping less stays, on d too, whatever order each device hears them in.
    appendLocalChangeset(
      d.db,
      { zone: testZone.id, name: "d", key: d.key, seal: d.seal },
      [{ key: "devices/s/revoked", value: JSON.stringify(first.jws) }],
      8000,
      (written) => dropRevokedByOwnWrite(d.db, written, context(d)),
    );
    settle([a, b, d]);
    expectAgreed([a, b, d], sId, { keptThrough: 2, x: "2", xSeq: 2 });
    expect(ingestEntries(b.db, [three.bytes], context(b)).rejected).toEqual([
      expect.objectContaining({ reason: "its author was revoked" }),
    ]);
  });

  test("a proof never moves a revocation's cut: a fork within it is said, with the cut a new revocation signs", () => {
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
    expect(member(1, 0)).toMatchObject({
      revokedAfterSeq: 5,
      refusedFromSeq: 6,
      forkSeq: 1,
      recutSeq: 0,
    });
    expect(member(3, 0)).toMatchObject({ revokedAfterSeq: 5, refusedFromSeq: 6, recutSeq: 2 });
    // Settled history is never cut below; where it covers the cut, there is nothing to cut.
    expect(member(3, 4)).toMatchObject({ revokedAfterSeq: 5, refusedFromSeq: 6, recutSeq: 4 });
    expect(member(3, 5)?.recutSeq).toBeUndefined();
    // Past the cut, the proof changes nothing.
    expect(member(7, 0)).toMatchObject({ revokedAfterSeq: 5, refusedFromSeq: 6 });
    expect(member(7, 0)?.forkSeq).toBeUndefined();
  });
});
