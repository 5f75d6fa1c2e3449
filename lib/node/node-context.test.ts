/**
 * NodeContext's change signals, on a real state database: whoever remembers answers
 * worked out from the state (lib/node/state-bound-memo.ts: the gateway's sessions, the
 * ingress's assertions) hears of every change that could change them.
 */
import { describe, expect, spyOn, test } from "bun:test";
import { type Changeset, signChangeset } from "../../protocol/changeset.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { isPassing } from "../errors.ts";
import { createLog, type Log } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, testDeviceDocument, testOwner, testZone } from "../state/test-db.ts";
import * as cut from "../sync/cut.ts";
import { entriesMissingFrom, versionVector } from "../sync/exchange.ts";
import { searchFork } from "../sync/fork-search.ts";
import { ingestEntries } from "../sync/ingest.ts";
import { standingOf } from "../sync/membership.ts";
import { StateBoundMemo } from "./state-bound-memo.ts";
import { testNodeContext } from "./test-node-context.ts";

const zone = testZone;
const docFor = testDeviceDocument;
const quiet = createLog({ level: "silent" });

/**
 * A zone of devices a and b (from the seeds given), founded by a; b has taken a's founding
 * changeset and runs the node at 5 s.
 */
function zoneOfTwo(seedA: number, seedB: number, options: { log?: Log; now?: () => number } = {}) {
  const a = openTestNode(seedA);
  const b = openTestNode(seedB);
  const aId = deviceIdFromPublicKey(a.key.publicKey);
  const founding = appendLocalChangeset(
    a.db,
    { zone: zone.id, name: "a", key: a.key, seal: a.seal },
    [
      { key: "boot/config", value: JSON.stringify(zone.jws) },
      { key: "devices/a/doc", value: docFor(a.key, "a") },
      { key: "devices/b/doc", value: docFor(b.key, "b") },
    ],
    1000,
  );
  ingestEntries(b.db, entriesMissingFrom(a.db, versionVector(b.db)).entries, {
    zone: zone.id,
    nowMs: 5000,
    log: quiet,
    source: "a",
    seal: b.seal,
  });
  const node = testNodeContext(b, "b", {
    log: options.log ?? quiet,
    now: options.now ?? (() => 5000),
  });
  return { a, aId, b, founding, node };
}

describe("NodeContext's change signals", () => {
  test("a page that only quarantines a device is a change: what was remembered of it is forgotten", async () => {
    const { a, aId, founding, node } = zoneOfTwo(40, 41);
    const memo = new StateBoundMemo<string>(node);
    const standingOfA = () =>
      memo.get("a", async () => ({
        answer: standingOf(node.membership(), aId),
        keepUntilMs: Number.POSITIVE_INFINITY,
      }));
    expect(await standingOfA()).toBe("member");

    // a writes #2, which b takes, then signs another #2 after the same #1: the page applies
    // nothing, and quarantines a.
    const second = appendLocalChangeset(
      a.db,
      { zone: zone.id, name: "a", key: a.key, seal: a.seal },
      [{ key: "apps/second", value: "1" }],
      2000,
    );
    expect((await node.ingest([second.bytes], "a")).applied).toHaveLength(1);
    expect(await standingOfA()).toBe("member");
    const twin = signChangeset(
      {
        zone: zone.id,
        author: aId,
        seq: 2,
        prev: founding.hash,
        hlc: { ms: second.hlc.ms, counter: second.hlc.counter + 1 },
        ops: [{ key: "apps/twin", value: "1" }],
      },
      a.key,
    );
    const result = await node.ingest([twin.bytes], "a");
    expect([result.applied.length, result.rejected.length]).toEqual([0, 1]);
    expect(standingOf(node.membership(), aId)).toBe("quarantined");
    expect(await standingOfA()).toBe("quarantined");
    memo.stop();
    // What b took of a past the fork stays here, and goes to no peer: not with a push after
    // a local change (where the peer said nothing of its proofs), nor to one lacking the proof.
    expect(versionVector(node.db).get(aId)).toBe(2);
    for (const theirs of [undefined, new Map()])
      expect(
        entriesMissingFrom(node.db, new Map([[aId, 1]]), undefined, node.withheldFrom(theirs))
          .entries,
      ).toEqual([]);
  });

  test("a changeset refused for its time names no clock: its hybrid clock carries others' time", async () => {
    const { a, aId, founding, node } = zoneOfTwo(42, 43);
    // a's clock is right; its next changeset carries a time it took from a device ahead.
    const carried = signChangeset(
      {
        zone: zone.id,
        author: aId,
        seq: 2,
        prev: founding.hash,
        hlc: { ms: 5000 + 10 * 60_000, counter: 0 },
        ops: [{ key: "apps/later", value: "1" }],
      },
      a.key,
    );
    const result = await node.ingest([carried.bytes], "a");
    expect(result.rejected.map((r) => r.reason)).toEqual([
      "its clock is too far ahead of this device's",
    ]);
    expect([...node.clocksAhead.current(5000).keys()]).toEqual([]);
  });
});

describe("a NodeContext of a device that is itself quarantined", () => {
  test("its writes are refused as a passing state (E_QUARANTINED), said once a minute, never a crash", () => {
    const lines: string[] = [];
    let nowMs = 5000;
    const { b, node } = zoneOfTwo(44, 45, {
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
      now: () => nowMs,
    });
    const own = node.write([{ key: "apps/own", value: "1" }]);
    const twin = signChangeset(
      {
        zone: zone.id,
        author: own.author,
        seq: own.seq,
        prev: own.prev,
        hlc: { ms: own.hlc.ms, counter: own.hlc.counter + 1 },
        ops: [{ key: "apps/twin", value: "1" }],
      },
      b.key,
    );
    // A peer's answer carries the proof of b's own fork: b learns it is quarantined.
    node.receiveProofs([makeProof(own.bytes, twin.bytes).bytes], "a");
    expect(node.quarantined()).toBe(true);
    let refused: unknown;
    try {
      node.write([{ key: "apps/later", value: "1" }]);
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: "E_QUARANTINED" });
    // What every background writer does with a failed write: waited out, not a crash.
    expect(isPassing(refused)).toBe(true);
    for (let i = 0; i < 3; i++) node.diskFull(refused);
    const said = () =>
      lines.filter((line) => line.includes("this device is quarantined: it writes nothing"));
    expect(said()).toHaveLength(1);
    nowMs += 61_000;
    node.diskFull(refused);
    expect(said()).toHaveLength(2);
  });
});

describe("a NodeContext of a device revoked and proven to fork past what the revocation keeps", () => {
  test("is refused as revoked, the same answer for its writes and its background work", async () => {
    const lines: string[] = [];
    const { a, b, node } = zoneOfTwo(53, 54, {
      log: createLog({ level: "info", write: (line) => lines.push(line) }),
    });
    const bId = deviceIdFromPublicKey(b.key.publicKey);
    node.write([{ key: "apps/one", value: "1" }]);
    const last = node.write([{ key: "apps/two", value: "2" }]);
    const revocation = signRevocation(
      { id: bId, name: "b" as DeviceName, lastSeq: last.seq, issuedAt: 2 },
      testOwner,
    );
    appendLocalChangeset(
      a.db,
      { zone: zone.id, name: "a", key: a.key, seal: a.seal },
      [{ key: "devices/b/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
    await node.ingest(entriesMissingFrom(a.db, versionVector(b.db)).entries, "a");
    // Its key (stolen) signs two changesets after its last: past what the revocation keeps.
    const twin = (value: string) =>
      signChangeset(
        {
          zone: zone.id,
          author: bId,
          seq: last.seq + 1,
          prev: last.hash,
          hlc: { ms: 6000, counter: 0 },
          ops: [{ key: "apps/x", value }],
        },
        b.key,
      );
    node.receiveProofs([makeProof(twin("1").bytes, twin("2").bytes).bytes], "a");
    expect(standingOf(node.membership(), bId)).toBe("revoked");
    // Its writes are refused, so its background work (and its start) writes nothing.
    expect(node.quarantined()).toBe(true);
    expect(node.refusal()).toEqual({ kind: "revoked", keptSeq: last.seq });
    let refused: unknown;
    try {
      node.write([{ key: "apps/later", value: "1" }]);
    } catch (error) {
      refused = error;
    }
    expect(refused).toMatchObject({ code: "E_QUARANTINED" });
    expect((refused as Error).message).toStartWith("this device was revoked");
    node.sayQuarantined();
    expect(lines.filter((line) => line.includes("this device was revoked"))).toHaveLength(1);
  });
});

describe("a second fork, below the one proven", () => {
  test("is searched and proven: the lower proof replaces the higher, and refuses from there on", async () => {
    const { a, aId, founding, node } = zoneOfTwo(46, 47);
    const author = { zone: zone.id, name: "a", key: a.key, seal: a.seal };
    const held = [2, 3, 4].map((seq) =>
      appendLocalChangeset(a.db, author, [{ key: "apps/n", value: String(seq) }], 1000 * seq),
    );
    const [, , fourth] = held as [Changeset, Changeset, Changeset];
    expect(
      (
        await node.ingest(
          held.map((c) => c.bytes),
          "a",
        )
      ).applied,
    ).toHaveLength(3);
    const sign = (seq: number, prev: Uint8Array, value: string) =>
      signChangeset(
        {
          zone: zone.id,
          author: aId,
          seq,
          prev,
          hlc: { ms: 4000 + seq, counter: 0 },
          ops: [{ key: "apps/n", value }],
        },
        a.key,
      );
    // A fork at #4 is proven here first.
    node.receiveProofs(
      [makeProof(fourth.bytes, sign(4, fourth.prev as Uint8Array, '"x"').bytes).bytes],
      "a",
    );
    expect(node.membership().byId.get(aId)?.forkSeq).toBe(4);
    // Another history parts at #2: its #3 does not chain to the #3 held.
    const lower = sign(2, founding.hash, '"y"');
    const result = await node.ingest([sign(3, lower.hash, '"z"').bytes], "c");
    node.noteBrokenChains(result, "c");
    const chains = node.brokenChains.toSearch("c");
    expect(chains.map((chain) => [chain.author, chain.below])).toEqual([[aId, 3]]);
    // The search with c (which sends a's changesets below #3) finds the fork point at #2.
    const found = searchFork(node.db, zone.id, aId, [lower.bytes]);
    expect(found.kind).toBe("proof");
    if (found.kind === "proof") node.receiveProofs([found.proof], "c");
    expect(node.membership().byId.get(aId)?.forkSeq).toBe(2);
    expect(node.proofsHave()).toEqual(new Map([[aId, 2]]));
    expect(node.brokenChains.toSearch("c")).toEqual([]);
    // Asked for a's changesets below #4 (where a peer might say it met a broken chain),
    // this node answers none from the fork on: only #1.
    expect(node.changesetsBelow(aId, 4)).toEqual([founding.bytes]);
  });

  test("a peer asking for earlier changesets gets of a device revoked only what its revocation keeps, none of no member", () => {
    const { aId, node } = zoneOfTwo(48, 49);
    expect(node.changesetsBelow(aId, 10)).toHaveLength(1);
    const revocation = signRevocation(
      { id: aId, name: "a" as DeviceName, lastSeq: 1, issuedAt: 2 },
      testOwner,
    );
    node.write([{ key: "devices/a/revoked", value: JSON.stringify(revocation.jws) }]);
    // Devices may hold two histories of it there: a search for where they part needs them.
    expect(node.changesetsBelow(aId, 10)).toHaveLength(1);
    expect(node.changesetsBelow(aId, 1)).toEqual([]);
    const stranger = deviceIdFromPublicKey(openTestNode(50).key.publicKey);
    expect(node.changesetsBelow(stranger, 10)).toEqual([]);
  });
});

describe("a local revocation", () => {
  test("drops what it cuts in its own transaction: a drop that fails leaves no revocation", () => {
    const { aId, node } = zoneOfTwo(51, 52);
    const revocation = signRevocation(
      { id: aId, name: "a" as DeviceName, lastSeq: 1, issuedAt: 2 },
      testOwner,
    );
    const held = versionVector(node.db);
    const drop = spyOn(cut, "dropPastCut").mockImplementation(() => {
      throw new Error("the drop failed");
    });
    try {
      expect(() =>
        node.write([{ key: "devices/a/revoked", value: JSON.stringify(revocation.jws) }]),
      ).toThrow("the drop failed");
    } finally {
      drop.mockRestore();
    }
    expect(versionVector(node.db)).toEqual(held);
    expect(standingOf(node.membership(), aId)).toBe("member");
  });
});
