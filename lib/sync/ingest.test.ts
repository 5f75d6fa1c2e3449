import { describe, expect, test } from "bun:test";
import {
  type Changeset,
  decodeChangeset,
  type Op,
  signChangeset,
} from "../../protocol/changeset.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { createLog } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  openTestNode,
  seed,
  type TestNode,
  testDeviceDocument,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { verifyNow } from "../state/verify.ts";
import type { StateDb } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { CheckedEntries } from "./checked-entries.ts";
import { receiveProofs } from "./equivocation.ts";
import {
  changesetsBelow,
  differingHeads,
  entriesMissingFrom,
  headHashes,
  pullPage,
  versionVector,
} from "./exchange.ts";
import { searchFork } from "./fork-search.ts";
import { ingestEntries, ingestPage } from "./ingest.ts";
import { loadMembership } from "./membership.ts";

const owner = testOwner;
const zone = testZone;
const docFor = testDeviceDocument;
const quiet = createLog({ level: "silent" });

/** The first device founded the zone and admitted the others; all are fresh nodes. */
function zoneOf<const N extends readonly string[]>(...names: N): { [K in keyof N]: TestNode } {
  const nodes = names.map((_, i) => openTestNode(20 + i));
  const [founder] = nodes as [TestNode];
  appendLocalChangeset(
    founder.db,
    { zone: zone.id, name: names[0] as string, key: founder.key, seal: founder.seal },
    [
      { key: "boot/config", value: JSON.stringify(zone.jws) },
      ...names.map((name, i) => ({
        key: `devices/${name}/doc`,
        value: docFor((nodes[i] as TestNode).key, name),
      })),
    ],
    1000,
  );
  return nodes as { [K in keyof N]: TestNode };
}

/** How `to` ingests: as a peer's pull at 5000 ms. */
function contextOf(to: TestNode) {
  return { zone: zone.id, nowMs: 5000, log: quiet, source: "test", seal: to.seal };
}

/** `to` ingests `entries`. */
function ingest(to: TestNode, entries: readonly Uint8Array[]) {
  return ingestEntries(to.db, entries, contextOf(to));
}

function syncInto(from: TestNode, to: TestNode) {
  return ingest(to, entriesMissingFrom(from.db, versionVector(to.db)).entries);
}

/** Device `node`, named `name`, writes `ops` at `ms`. */
function writeOn(node: TestNode, name: string, ops: readonly Op[], ms: number): Changeset {
  return appendLocalChangeset(
    node.db,
    { zone: zone.id, name, key: node.key, seal: node.seal },
    ops,
    ms,
  );
}

/** A changeset signed with `key` (a device's, maybe stolen), outside any feed. */
function signedWith(
  key: SigningKey,
  at: { author: DeviceId; seq: number; prev: Uint8Array | null; ms: number; ops: Op[] },
): Changeset {
  return signChangeset(
    {
      zone: zone.id,
      author: at.author,
      seq: at.seq,
      prev: at.prev,
      hlc: { ms: at.ms, counter: 0 },
      ops: at.ops,
    },
    key,
  );
}

/** The owner's revocation of device `name` (`id`) after its #`lastSeq`, written on `a` at `ms`. */
function revokeOn(
  a: TestNode,
  revoked: { id: DeviceId; name: string; lastSeq: number },
  issuedAt: number,
  ms: number,
): void {
  const revocation = signRevocation(
    { id: revoked.id, name: revoked.name as DeviceName, lastSeq: revoked.lastSeq, issuedAt },
    owner,
  );
  writeOn(
    a,
    "a",
    [{ key: `devices/${revoked.name}/revoked`, value: JSON.stringify(revocation.jws) }],
    ms,
  );
}

/** Device n, which c admits (its owner-signed document in c's changeset), and n's first write. */
function deviceN(): { key: SigningKey; id: DeviceId; admission: Op; write: Changeset } {
  const key = signingKeyFromSeed(seed(29));
  const id = deviceIdFromPublicKey(key.publicKey);
  const write = signedWith(key, {
    author: id,
    seq: 1,
    prev: null,
    ms: 2500,
    ops: [{ key: "apps/n", value: '"n"' }],
  });
  return { key, id, admission: { key: "devices/n/doc", value: docFor(key, "n") }, write };
}

/** `entry` with its last byte flipped: its signature no longer holds. */
const withLastByteFlipped = (entry: Uint8Array) => {
  const altered = entry.slice();
  altered[altered.length - 1] = (altered[altered.length - 1] ?? 0) ^ 1;
  return altered;
};

const bytesOf = (changesets: readonly Changeset[]) => changesets.map((x) => x.bytes);

function values(db: StateDb): Record<string, string | null> {
  return Object.fromEntries(
    db
      .select({ key: state.key, value: state.value })
      .from(state)
      .all()
      .filter((r) => r.key.startsWith("apps/"))
      .map((r) => [r.key, r.value]),
  );
}

describe("ingestEntries", () => {
  test("accepts the founder's first changeset: it introduces its own author", () => {
    const [a, c] = zoneOf("a", "c");
    const result = syncInto(a, c);
    expect([result.applied.length, result.rejected]).toEqual([1, []]);
  });

  test("a device revoked under a name another now holds cannot introduce itself with its old document", () => {
    // The zone keeps b2 as "b"; b1, once admitted as "b" too, is revoked with nothing kept.
    const [a, b2] = zoneOf("a", "b");
    const b1 = signingKeyFromSeed(seed(33));
    const b1Id = deviceIdFromPublicKey(b1.publicKey);
    const revoked = signRevocation(
      { id: b1Id, name: "b" as DeviceName, lastSeq: 0, issuedAt: 5 },
      owner,
    );
    writeOn(a, "a", [{ key: "devices/b/revoked", value: JSON.stringify(revoked.jws) }], 2000);
    // Stolen b1 signs its first changeset with its old document, and a write of its own.
    const intruding = signChangeset(
      {
        zone: zone.id,
        author: b1Id,
        seq: 1,
        prev: null,
        hlc: { ms: 4000, counter: 0 },
        ops: [
          { key: "devices/b/doc", value: docFor(b1, "b") },
          { key: "apps/x/spec", value: JSON.stringify("planted") },
        ],
      },
      b1,
    );
    const result = ingest(a, [intruding.bytes]);
    expect(result.applied).toHaveLength(0);
    expect(loadMembership(a.db, zone.id).byName.get("b")?.id).toBe(
      deviceIdFromPublicKey(b2.key.publicKey),
    );
    expect(values(a.db)["apps/x/spec"]).toBeUndefined();
  });

  test("holds back a changeset whose predecessor is missing, without storing it", () => {
    const [a, c] = zoneOf("a", "c");
    syncInto(a, c);
    writeOn(a, "a", [{ key: "apps/1", value: "1" }], 2000);
    const third = writeOn(a, "a", [{ key: "apps/2", value: "2" }], 3000);
    const result = ingest(c, [third.bytes]);
    expect([result.applied.length, result.deferred, result.rejected]).toEqual([0, 1, []]);
    expect(values(c.db)).toEqual({});
    syncInto(a, c);
    expect(values(c.db)).toEqual({ "apps/1": "1", "apps/2": "2" });
  });

  test("a revocation drops what the device wrote after its cut, and recomputes those keys", () => {
    const [a, b, c] = zoneOf("a", "b", "c");
    syncInto(a, b);
    syncInto(a, c);
    writeOn(b, "b", [{ key: "apps/k", value: '"kept"' }], 2000);
    // a hears of b's first write only, then revokes b there; c already has b's second.
    syncInto(b, a);
    writeOn(
      b,
      "b",
      [
        { key: "apps/k", value: '"late"' },
        { key: "apps/new", value: "1" },
      ],
      3000,
    );
    syncInto(b, c);
    expect(values(c.db)).toEqual({ "apps/k": '"late"', "apps/new": "1" });
    const bId = deviceIdFromPublicKey(b.key.publicKey);
    revokeOn(a, { id: bId, name: "b", lastSeq: versionVector(a.db).get(bId) as number }, 4, 4000);
    syncInto(a, c);
    // c now agrees with a: b's write after the cut is gone, and so is its effect.
    expect(values(c.db)).toEqual({ "apps/k": '"kept"' });
    expect(values(c.db)).toEqual(values(a.db));
    // And b's later changesets are refused from then on.
    const refused = syncInto(b, c);
    expect(refused.applied).toEqual([]);
    expect(refused.rejected.map((r) => r.reason)).toEqual(["its author was revoked"]);
  });

  test("a device at or past a fork finds the fork point from a broken chain; both refuse from there on and drop nothing", () => {
    const [a, c, d, e] = zoneOf("a", "c", "d", "e");
    for (const to of [c, d, e]) syncInto(a, to);
    // c signs a first changeset, then two histories after it: a takes one, d the other, longer.
    const first = writeOn(c, "c", [{ key: "apps/kept", value: '"1"' }], 1500);
    const author = first.author;
    const branch = (tag: string, length: number) => {
      const made: Changeset[] = [];
      for (let i = 0; i < length; i++)
        made.push(
          signedWith(c.key, {
            author,
            seq: 2 + i,
            prev: (made[i - 1] ?? first).hash,
            ms: first.hlc.ms + 1 + i,
            ops: [{ key: "apps/fork", value: `"${tag}${i}"` }],
          }),
        );
      return made;
    };
    const one = branch("a", 2);
    const other = branch("d", 3);
    expect(ingest(a, bytesOf([first, ...one])).applied).toHaveLength(3);
    expect(ingest(d, bytesOf([first, ...other])).applied).toHaveLength(3 + 1);
    // d is past a's head: what a lacks of c is d's #4 alone, which does not chain to a's #3.
    const met = syncInto(d, a);
    expect(met.rejected).toEqual([
      {
        author,
        seq: 4,
        reason: "broken chain: prev is not the hash of the previous changeset",
        forkBelow: 4,
      },
    ]);
    // a asks d for c's changesets below #4: they part after #1, and the two #2 are the proof.
    const found = searchFork(a.db, zone.id, author, changesetsBelow(d.db, author, 4));
    expect(found.kind).toBe("proof");
    const proof = found.kind === "proof" ? found.proof : new Uint8Array();
    for (const to of [a, d]) expect(receiveProofs(to.db, [proof], contextOf(to))).toBe(1);
    // Both say c quarantined from #2 on, and each keeps what it took before it knew.
    for (const to of [a, d])
      expect(loadMembership(to.db, zone.id).byId.get(author)).toMatchObject({
        quarantined: true,
        forkSeq: 2,
        refusedFromSeq: 2,
      });
    expect(versionVector(a.db).get(author)).toBe(3);
    expect(values(a.db)).toEqual({ "apps/kept": '"1"', "apps/fork": '"a1"' });
    expect(versionVector(d.db).get(author)).toBe(4);
    expect(values(d.db)).toEqual({ "apps/kept": '"1"', "apps/fork": '"d2"' });
    // What c signs after the proof is taken nowhere, whichever history it follows.
    const [, lastOfA] = one as [Changeset, Changeset];
    const after = signedWith(c.key, {
      author,
      seq: 4,
      prev: lastOfA.hash,
      ms: first.hlc.ms + 10,
      ops: [{ key: "apps/fork", value: '"after"' }],
    });
    for (const to of [a, d]) expect(ingest(to, [after.bytes]).applied).toEqual([]);
    expect(values(a.db)["apps/fork"]).toBe('"a1"');
    // e takes the proof before any of c's changesets, then all of them: #1 is kept as on a
    // and d, whatever the order; nothing from #2 on is taken or offered.
    expect(receiveProofs(e.db, [proof], contextOf(e))).toBe(1);
    const late = ingest(e, bytesOf([first, ...other]));
    expect(late.applied.map((x) => x.seq)).toEqual([1]);
    expect(values(e.db)).toEqual({ "apps/kept": '"1"' });
    const seqsOfC = (entries: readonly Uint8Array[]) =>
      entries.map(decodeChangeset).flatMap((x) => (x.author === author ? [x.seq] : []));
    // Nothing of c from the fork on is sent, by a device that holds the proof or to one.
    const fresh = new Map([[author, 0]]);
    for (const from of [a, d])
      expect(
        seqsOfC(entriesMissingFrom(from.db, fresh, undefined, new Map([[author, 2]])).entries),
      ).toEqual([1]);
  });

  test("a quarantine drops nothing: a device that took an admission past the fork keeps it, one that had the proof first refuses it", () => {
    const [a, c, e, f, g] = zoneOf("a", "c", "e", "f", "g");
    for (const to of [c, e, f, g]) syncInto(a, to);
    // c signs #1, then two #2: one admits n (an owner-signed document c carries), the
    // other does not. n writes once it is admitted.
    const first = writeOn(c, "c", [{ key: "apps/kept", value: '"1"' }], 1500);
    const second = (ops: Op[]) =>
      signedWith(c.key, {
        author: first.author,
        seq: 2,
        prev: first.hash,
        ms: first.hlc.ms + 1,
        ops,
      });
    const n = deviceN();
    const admits = second([n.admission]);
    const other = second([{ key: "apps/fork", value: '"other"' }]);
    const held = (to: TestNode) => ({
      members: [...loadMembership(to.db, zone.id).byName.keys()].sort(),
      quarantined: loadMembership(to.db, zone.id).byId.get(first.author)?.forkSeq,
      values: values(to.db),
      problems: verifyNow(to.db.$client, to.seal, zone.id).problems,
    });
    // a takes the history that admits n, and n's write, then the other #2: the proof.
    const took = ingest(a, bytesOf([first, admits, n.write]));
    expect(took.applied).toHaveLength(3);
    ingest(a, [other.bytes]);
    // e takes the proof first, then everything; f everything in one page.
    const proof = makeProof(admits.bytes, other.bytes).bytes;
    expect(receiveProofs(e.db, [proof], contextOf(e))).toBe(1);
    const refused = ingest(e, bytesOf([first, admits, n.write, other]));
    expect(refused.applied.map((x) => [x.author, x.seq])).toEqual([[first.author, 1]]);
    ingest(f, bytesOf([first, admits, n.write, other]));
    // g takes the history that admits n and n's write, then the proof from a peer.
    ingest(g, bytesOf([first, admits, n.write]));
    expect(receiveProofs(g.db, [proof], contextOf(g))).toBe(1);
    // Everywhere c is quarantined from #2 and the state verifies; n and its write stay
    // where they were taken before the proof, and are nowhere else.
    const took2 = {
      members: ["a", "c", "e", "f", "g", "n"],
      quarantined: 2,
      values: { "apps/kept": '"1"', "apps/n": '"n"' },
      problems: [],
    };
    for (const to of [a, f, g]) expect(held(to)).toEqual(took2);
    expect(held(e)).toEqual({
      members: ["a", "c", "e", "f", "g"],
      quarantined: 2,
      values: { "apps/kept": '"1"' },
      problems: [],
    });
  });

  test("a second first changeset by the founder drops nothing: membership and boot/config stay on every device", () => {
    const [a, c, e] = zoneOf("a", "c", "e");
    for (const to of [c, e]) syncInto(a, to);
    const before = (to: TestNode) =>
      to.db.$client
        .query(
          "SELECT key, value FROM state WHERE key = 'boot/config' OR key GLOB 'devices/*' ORDER BY key",
        )
        .values();
    const founding = before(c);
    expect(founding.length).toBe(4);
    // The stolen founder signs another #1 (its feed put back to nothing): c meets both
    // halves, e takes the proof from a peer, a (the founder's own copy) too.
    const twin = signedWith(a.key, {
      author: deviceIdFromPublicKey(a.key.publicKey),
      seq: 1,
      prev: null,
      ms: 4000,
      ops: [{ key: "apps/x", value: '"twin"' }],
    });
    const [held] = c.db.$client
      .query<{ bytes: Uint8Array }, [string]>(
        "SELECT bytes FROM changesets WHERE author = ? AND seq = 1",
      )
      .all(twin.author);
    const proof = makeProof(new Uint8Array((held as { bytes: Uint8Array }).bytes), twin.bytes);
    expect(ingest(c, [twin.bytes]).applied).toEqual([]);
    for (const to of [a, e]) expect(receiveProofs(to.db, [proof.bytes], contextOf(to))).toBe(1);
    for (const to of [a, c, e]) {
      const membership = loadMembership(to.db, zone.id);
      expect([...membership.byName.keys()].sort()).toEqual(["a", "c", "e"]);
      expect(membership.byName.get("a")).toMatchObject({ quarantined: true, forkSeq: 1 });
      expect(before(to)).toEqual(founding);
      expect(verifyNow(to.db.$client, to.seal, zone.id).problems).toEqual([]);
    }
  });

  test("two histories of one length are found: a peer holding another head at the asker's seq sends it, and the proof forms", () => {
    const [a, c, d] = zoneOf("a", "c", "d");
    for (const to of [c, d]) syncInto(a, to);
    // c signs #1, which all take, then two different #2 after it, one to a, one to d,
    // and stops: both hold c up to #2.
    const first = writeOn(c, "c", [{ key: "apps/kept", value: '"1"' }], 1500);
    const second = (tag: string) =>
      signedWith(c.key, {
        author: first.author,
        seq: 2,
        prev: first.hash,
        ms: first.hlc.ms + 1,
        ops: [{ key: "apps/fork", value: `"${tag}"` }],
      });
    ingest(a, [first.bytes, second("a").bytes]);
    ingest(d, [first.bytes, second("d").bytes]);
    // Comparing seqs alone, neither lacks anything of the other's.
    expect(entriesMissingFrom(d.db, versionVector(a.db)).entries).toEqual([]);
    expect(entriesMissingFrom(a.db, versionVector(d.db)).entries).toEqual([]);
    // a asks with its heads: d holds another #2 of c, and sends it; a forms the proof.
    const differing = differingHeads(d.db, versionVector(a.db), headHashes(a.db));
    expect(differing).toEqual([second("d").bytes]);
    // Sent with what a lacks (d's own writes) within one page's bytes, the head first.
    for (let i = 0; i < 4; i++) writeOn(d, "d", [{ key: `apps/d${i}`, value: '"d"' }], 3000 + i);
    const pageBytes = 3 * second("d").bytes.length;
    const page = pullPage(d.db, versionVector(a.db), headHashes(a.db), new Map(), pageBytes);
    expect(page.entries[0]).toEqual(second("d").bytes);
    expect(page.entries.length).toBeGreaterThan(1);
    expect(page.entries.reduce((size, entry) => size + entry.length, 0)).toBeLessThanOrEqual(
      pageBytes,
    );
    expect(page.more).toBe(true);
    // While d sends a what it lacks by a push, a's pull still gets the other head, alone.
    const headsOnly = pullPage(
      d.db,
      versionVector(a.db),
      headHashes(a.db),
      new Map(),
      pageBytes,
      new Map(),
      false,
    );
    expect([headsOnly.entries, headsOnly.more]).toEqual([[second("d").bytes], false]);
    const met = ingest(a, differing);
    expect(met.rejected.map((r) => r.reason)).toEqual([
      "equivocation: a different changeset #2 is already held",
    ]);
    expect(loadMembership(a.db, zone.id).byId.get(first.author)?.forkSeq).toBe(2);
    // The heads that agree send nothing; nor does a quarantined author's, once withheld.
    expect(differingHeads(a.db, versionVector(a.db), headHashes(a.db))).toEqual([]);
    expect(
      differingHeads(d.db, versionVector(a.db), headHashes(a.db), new Map([[first.author, 2]])),
    ).toEqual([]);
  });

  test("a revocation sets aside the devices the revoked device admitted past its cut", () => {
    const [a, c, e] = zoneOf("a", "c", "e");
    for (const to of [c, e]) syncInto(a, to);
    const n = deviceN();
    const admits = writeOn(c, "c", [n.admission], 1500);
    ingest(e, [admits.bytes, n.write.bytes]);
    expect(values(e.db)).toEqual({ "apps/n": '"n"' });
    // a revokes c before hearing of the admission: c's #1 is past the cut.
    revokeOn(a, { id: admits.author, name: "c", lastSeq: 0 }, 4, 4000);
    syncInto(a, e);
    expect(values(e.db)).toEqual({});
    expect(versionVector(e.db).get(n.id)).toBeUndefined();
    expect(loadMembership(e.db, zone.id).byName.has("n")).toBe(false);
    expect(verifyNow(e.db.$client, e.seal, zone.id).problems).toEqual([]);
  });

  test("a batch's signatures checked first decide exactly as one at a time in the transaction", async () => {
    const [a, c, d] = zoneOf("a", "c", "d");
    syncInto(a, c);
    syncInto(a, d);
    const entries = Array.from(
      { length: 12 },
      (_, i) => writeOn(a, "a", [{ key: `apps/${i}`, value: `${i}` }], 2000 + i).bytes,
    );
    // The sixth's signature altered: it is refused, the ones after it wait for it.
    entries[5] = withLastByteFlipped(entries[5] as Uint8Array);
    const inBatch = ingestEntries(
      c.db,
      await CheckedEntries.verify(entries, zone.id),
      contextOf(c),
    );
    const oneByOne = ingest(d, entries);
    const outcome = (result: typeof inBatch) => ({
      applied: result.applied.map((changeset) => changeset.seq),
      rejected: result.rejected,
      deferred: result.deferred,
    });
    expect(outcome(inBatch)).toEqual({
      applied: [2, 3, 4, 5, 6],
      rejected: [
        {
          author: deviceIdFromPublicKey(a.key.publicKey),
          seq: 7,
          reason: `changeset ${deviceIdFromPublicKey(a.key.publicKey)}#7 has a bad signature`,
        },
      ],
      deferred: 6,
    });
    expect(outcome(oneByOne)).toEqual(outcome(inBatch));
    expect(values(c.db)).toEqual(values(d.db));
  });

  test("in a batch, the latest writer of a key wins it, as one changeset at a time", () => {
    const [a, b, c, d] = zoneOf("a", "b", "c", "d");
    // a writes later than b, though b's changeset comes later in the batch (b is admitted
    // by a's first changeset, so it waits for it); both write the same key.
    writeOn(a, "a", [{ key: "apps/k", value: '"from a"' }], 3000);
    writeOn(b, "b", [{ key: "apps/k", value: '"from b"' }], 2000);
    const entries = [
      ...entriesMissingFrom(b.db, new Map()).entries,
      ...entriesMissingFrom(a.db, new Map()).entries,
    ];
    expect(ingest(c, entries).applied).toHaveLength(3);
    // The same changesets one at a time.
    for (const entry of [...entries.slice(1), entries[0] as Uint8Array]) ingest(d, [entry]);
    expect(values(c.db)).toEqual({ "apps/k": '"from a"' });
    expect(values(d.db)).toEqual(values(c.db));
  });

  test("a changeset held already is a duplicate, whatever signature it comes with", () => {
    const [a, c] = zoneOf("a", "c");
    writeOn(a, "a", [{ key: "apps/1", value: "1" }], 2000);
    syncInto(a, c);
    const again = entriesMissingFrom(a.db, new Map()).entries.map(withLastByteFlipped);
    const result = ingest(c, again);
    expect([result.applied, result.duplicates, result.rejected]).toEqual([[], 2, []]);
    expect(values(c.db)).toEqual({ "apps/1": "1" });
  });

  test("a page checks ahead only the signatures of what is not held; a twin of a held one is still caught", async () => {
    const [a, c] = zoneOf("a", "c");
    for (let i = 0; i < 12; i++) writeOn(a, "a", [{ key: `apps/${i}`, value: `${i}` }], 2000 + i);
    syncInto(a, c);
    for (let i = 12; i < 15; i++) writeOn(a, "a", [{ key: `apps/${i}`, value: `${i}` }], 2000 + i);
    // All 16 of a's changesets come again: 13 held, 3 new.
    let started = -1;
    const checksStarted = (count: number) => {
      started = count;
    };
    const page = await ingestPage(c.db, entriesMissingFrom(a.db, new Map()).entries, contextOf(c), {
      checksStarted,
    });
    expect([started, page.applied.length, page.duplicates, page.rejected]).toEqual([3, 3, 13, []]);
    // a signs a second changeset #16, with what it held before it: the page is held but
    // for that one, whose signature is checked, and a is quarantined.
    const twin = signedWith(a.key, {
      author: deviceIdFromPublicKey(a.key.publicKey),
      seq: 16,
      prev: (page.applied[1] as Changeset).hash,
      ms: 4000,
      ops: [{ key: "apps/twin", value: "1" }],
    });
    const again = await ingestPage(
      c.db,
      [...entriesMissingFrom(a.db, new Map()).entries, twin.bytes],
      contextOf(c),
      { checksStarted },
    );
    expect(started).toBe(0);
    expect(again.rejected).toEqual([
      {
        author: deviceIdFromPublicKey(a.key.publicKey),
        seq: 16,
        reason: "equivocation: a different changeset #16 is already held",
      },
    ]);
  });

  test("a page in batches tells of each batch as it commits, before the next is applied", async () => {
    const [a, c] = zoneOf("a", "c");
    for (let i = 0; i < 9; i++) writeOn(a, "a", [{ key: `apps/${i}`, value: `${i}` }], 2000 + i);
    // What each batch said it applied, and what the state held when it said so.
    const told: { seqs: number[]; held: string[] }[] = [];
    const page = await ingestPage(c.db, entriesMissingFrom(a.db, new Map()).entries, contextOf(c), {
      batchChangesets: 4,
      batchApplied: ({ applied }) =>
        told.push({
          seqs: applied.map((changeset) => changeset.seq),
          held: Object.keys(values(c.db)),
        }),
    });
    expect(page.applied.map((changeset) => changeset.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(told).toEqual([
      { seqs: [1, 2, 3, 4], held: ["apps/0", "apps/1", "apps/2"] },
      {
        seqs: [5, 6, 7, 8],
        held: ["apps/0", "apps/1", "apps/2", "apps/3", "apps/4", "apps/5", "apps/6"],
      },
      { seqs: [9, 10], held: Object.keys(values(c.db)) },
    ]);
  });

  test("a page in batches refuses a changeset forged in the middle of a batch: nothing of it lands", async () => {
    const [a, b, c] = zoneOf("a", "b", "c");
    syncInto(a, c);
    // a and b write in turn, so that a's seventh changeset is in the middle of the page's
    // third batch of four; its value is then altered in the entry (it still decodes).
    for (let i = 0; i < 8; i++) {
      for (const [node, name] of [
        [a, "a"],
        [b, "b"],
      ] as const)
        writeOn(node, name, [{ key: `apps/${name}${i}`, value: `"signed ${i}"` }], 2000 + i);
    }
    const fromA = entriesMissingFrom(a.db, versionVector(c.db)).entries;
    const fromB = entriesMissingFrom(b.db, versionVector(c.db)).entries;
    const page = fromA.flatMap((entry, i) => [entry, fromB[i] as Uint8Array]);
    const forged = Buffer.from(page[10] as Uint8Array);
    const at = forged.indexOf("signed 5");
    expect(at).toBeGreaterThan(0);
    forged.write("forged", at);
    page[10] = new Uint8Array(forged);
    let started = 0;
    const result = await ingestPage(c.db, page, contextOf(c), {
      batchChangesets: 4,
      checksStarted: (count) => {
        started = count;
      },
    });
    // Its signature was checked ahead with the others', on the worker threads.
    expect(started).toBe(16);
    const aId = deviceIdFromPublicKey(a.key.publicKey);
    expect(result.rejected).toEqual([
      { author: aId, seq: 7, reason: `changeset ${aId}#7 has a bad signature` },
    ]);
    // a's later changesets wait for the one it really signed; b's all land.
    expect(result.deferred).toBe(2);
    expect(result.applied.filter((changeset) => changeset.author === aId)).toHaveLength(5);
    const held = values(c.db);
    expect(Object.values(held).filter((value) => value?.includes("forged"))).toEqual([]);
    expect(Object.keys(held).filter((key) => key.startsWith("apps/a"))).toEqual([
      "apps/a0",
      "apps/a1",
      "apps/a2",
      "apps/a3",
      "apps/a4",
    ]);
    expect(Object.keys(held).filter((key) => key.startsWith("apps/b"))).toHaveLength(8);
    expect(versionVector(c.db).get(aId)).toBe(6);
  });

  test("waits while another process writes to the same database, instead of failing", async () => {
    const [a, c] = zoneOf("a", "c");
    // Another process (a command run beside the daemon) holds the write lock for a moment.
    const child = Bun.spawn(
      [
        process.execPath,
        "-e",
        `const { Database } = require("bun:sqlite");
         const db = new Database(${JSON.stringify(c.db.$client.filename)});
         db.run("BEGIN IMMEDIATE");
         console.log("held");
         Bun.sleepSync(500);
         db.run("COMMIT");`,
      ],
      { stdout: "pipe" },
    );
    const reader = child.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toStartWith("held");
    // Reading first, then writing: it must wait for the lock, not give up at once.
    expect(syncInto(a, c).applied.length).toBe(1);
    expect(await child.exited).toBe(0);
  });
});
