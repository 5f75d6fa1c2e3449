import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  type Changeset,
  decodeChangeset,
  type Op,
  signChangeset,
} from "../../protocol/changeset.ts";
import {
  decodeOffer,
  decodePage,
  decodePageRequest,
  encodeOffer,
  encodePage,
} from "../../protocol/checkpoint.ts";
import { signDeviceDocument, signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { bytesEqual } from "../../protocol/encoding.ts";
import { makeProof } from "../../protocol/equivocation.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { decodeEarlierRequest, encodeEntries } from "../../protocol/sync-messages.ts";
import { BuckyError } from "../errors.ts";
import { createLog } from "../log.ts";
import { isEvidence } from "../state/evidence.ts";
import { checkIntegrity } from "../state/integrity.ts";
import { repairState } from "../state/repair.ts";
import { proofsNamed, receiveProofs } from "../sync/equivocation.ts";
import { changesetsBelow, versionVector } from "../sync/exchange.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { damagedOwnKept, type KeptSource, putBackOwnKept } from "./own-kept.ts";
import { owner, TestZone } from "./test-zone.ts";
import { checkpointPage, checkpointReplaced, offerFor } from "./transfer.ts";

const dir = mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-checkpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let zones = 0;
const quiet = createLog({ level: "silent" });

function zoneOf(...names: string[]): TestZone {
  const path = join(dir, `zone-${++zones}`);
  mkdirSync(path);
  return new TestZone(names, path);
}

/** Everyone pulls from everyone until nothing moves. */
async function settle(zone: TestZone, among: readonly number[] = zone.devices.map((_, i) => i)) {
  for (let round = 0; round < 20; round++) {
    let moved = 0;
    for (const a of among) for (const b of among) moved += await zone.sync(a, b);
    if (moved === 0) return;
  }
  throw new Error("did not settle");
}

/** A zone of three with a history: keys written over and over, some deleted. */
async function busyZone(): Promise<TestZone> {
  const zone = zoneOf("a", "b", "c");
  for (let round = 0; round < 6; round++)
    for (let i = 0; i < 3; i++)
      zone.write(i, [
        { key: `apps/k${round % 3}`, value: JSON.stringify({ round, by: i }) },
        { key: `apps/by${i}`, value: String(round) },
      ]);
  zone.write(1, [{ key: "apps/k2", value: null }]);
  await settle(zone);
  return zone;
}

/**
 * Devices `endorsers` endorse a checkpoint at `cut` one after another, the zone settling
 * among `among` after each (all devices when not given): the ids they endorsed.
 */
async function endorseInTurn(
  zone: TestZone,
  cut: number,
  endorsers: readonly number[],
  among?: readonly number[],
): Promise<(string | undefined)[]> {
  const ids = [];
  for (const i of endorsers) {
    ids.push(await zone.endorse(i, cut));
    await settle(zone, among);
  }
  return ids;
}

/** Each of `devices` adopts the agreed checkpoint. */
async function expectAdopted(zone: TestZone, devices: readonly number[]): Promise<void> {
  for (const i of devices) expect(await zone.adopt(i)).toBeDefined();
}

/**
 * A checkpoint of now, endorsed by `endorsers` in turn (settling among them) and adopted
 * by `adopters`; the clock moves on past its cut.
 */
async function compact(
  zone: TestZone,
  endorsers: readonly number[],
  adopters: readonly number[] = endorsers,
): Promise<void> {
  const cut = zone.nowMs;
  zone.nowMs += 1000;
  await endorseInTurn(zone, cut, endorsers, endorsers);
  await expectAdopted(zone, adopters);
}

/**
 * What a device's stolen key signs beside `one`: another changeset at its seq (after the
 * same one) or, given `after`, the next one after `after`, writing `ops`.
 */
function signedBeside(
  zone: TestZone,
  device: number,
  one: Changeset,
  ops: Op[],
  after?: Changeset,
): Changeset {
  return signChangeset(
    {
      zone: zone.zone,
      author: one.author,
      seq: after ? after.seq + 1 : one.seq,
      prev: after ? after.hash : one.prev,
      hlc: after
        ? { ms: one.hlc.ms + 1, counter: 0 }
        : { ms: one.hlc.ms, counter: one.hlc.counter + 1 },
      ops,
    },
    zone.device(device).key,
  );
}

/**
 * A zone of three where a and b alone wrote `rounds` times, in turn, over `keys` keys, and
 * b once more past the cut; both endorse a checkpoint at the cut and a adopts it. c, which
 * never synced, holds nothing.
 */
async function adoptedWithoutC(rounds: number, keys: number): Promise<TestZone> {
  const zone = zoneOf("a", "b", "c");
  for (let round = 0; round < rounds; round++)
    zone.write(round % 2, [{ key: `apps/k${round % keys}`, value: String(round) }]);
  await settle(zone, [0, 1]);
  const cut = zone.nowMs;
  zone.write(1, [{ key: "apps/tail", value: "1" }]);
  await settle(zone, [0, 1]);
  await endorseInTurn(zone, cut, [0, 1], [0, 1]);
  expect(await zone.adopt(0)).toBeDefined();
  return zone;
}

/** Device `i` takes the proof of a fork, as sync brings it. */
function receiveProof(zone: TestZone, i: number, proof: Uint8Array): void {
  receiveProofs(zone.device(i).db, [proof], {
    zone: zone.zone,
    nowMs: zone.nowMs,
    log: quiet,
    source: "test",
    seal: zone.device(i).seal,
  });
}

/** The checkpoint `from` offers `to`, as `to` stands now. */
const offerTo = (zone: TestZone, from: number, to: number) =>
  offerFor(zone.device(from).db.$client, versionVector(zone.device(to).db)) as Uint8Array;

/** Whether device `i` holds a checkpoint. */
const holdsCheckpoint = (zone: TestZone, i: number) =>
  zone.device(i).db.$client.query("SELECT 1 FROM checkpoint").get() !== null;

describe("checkpoints", () => {
  test("agreed by more than half, one lets go of the history it supersedes; the state stays", async () => {
    const zone = await busyZone();
    const before = zone.stateOf(0, "apps/");
    const cut = zone.nowMs;
    zone.nowMs += 1000;
    const id = await zone.endorse(0, cut);
    expect(id).toBeDefined();
    // One endorsement of three is not agreement.
    expect(await zone.adopt(0)).toBeUndefined();
    await settle(zone);
    expect(await zone.endorse(1, cut)).toBe(id as string);
    await settle(zone);
    const held = zone.changesetCount(0);
    const adopted = await zone.adopt(0);
    expect(adopted?.candidate.checkpoint.id).toBe(id as string);
    // 20 changesets before the cut: kept are the one holding the zone's documents
    // (evidence) and the last of each of the three feeds; the endorsements came after.
    expect(adopted?.pruned).toBe(16);
    expect(zone.changesetCount(0)).toBe(held - 16);
    expect(zone.stateOf(0, "apps/")).toEqual(before);
    expect(zone.verify(0).problems).toEqual([]);
    // The others adopt it too, and all still agree.
    await endorseInTurn(zone, cut, [1, 2]);
    for (const i of [1, 2])
      expect((await zone.adopt(i))?.candidate.checkpoint.id).toBe(id as string);
    for (const i of [0, 1, 2]) {
      expect(zone.stateOf(i, "apps/")).toEqual(before);
      expect(zone.verify(i).problems).toEqual([]);
    }
  });

  test("writes after it: replaced rows are kept aside, and the checks still pass at rest", async () => {
    const zone = await busyZone();
    await endorseInTurn(zone, zone.nowMs, [0, 1]);
    expect(await zone.adopt(0)).toBeDefined();
    zone.write(0, [
      { key: "apps/k0", value: '"after"' },
      { key: "apps/by1", value: null },
      { key: "apps/new", value: "1" },
    ]);
    expect(zone.verify(0).problems).toEqual([]);
    const device = zone.device(0);
    const open = (everyRow: boolean) =>
      checkIntegrity(device.db.$client, device.seal, zone.zone, { everyRow, nowMs: 0, log: quiet });
    expect(() => open(true)).not.toThrow();
    // A row kept aside edited behind bucky's back is found.
    device.db.$client.run("UPDATE checkpoint_base SET value = '\"edited\"' WHERE key = 'apps/k0'");
    expect(() => open(true)).toThrow(BuckyError);
    expect(zone.verify(0).problems.join("\n")).toContain("checkpoint");
  });

  test("a device that was away past it takes it from a peer, then what came after", async () => {
    const zone = await busyZone();
    // c is away; a and b go on, agree and compact.
    for (let round = 0; round < 4; round++)
      zone.write(round % 2, [{ key: `apps/late${round}`, value: String(round) }]);
    zone.write(2, [{ key: "apps/offline", value: '"written by c while away"' }]);
    await settle(zone, [0, 1]);
    const cut = zone.nowMs;
    zone.write(0, [{ key: "apps/after-cut", value: "1" }]);
    await settle(zone, [0, 1]);
    await endorseInTurn(zone, cut, [0, 1], [0, 1]);
    await expectAdopted(zone, [0, 1]);
    // c lacks what they let go of: it is offered the checkpoint, not entries.
    const offer = offerFor(zone.device(0).db.$client, versionVector(zone.device(2).db));
    expect(offer).toBeDefined();
    await settle(zone);
    const expected = zone.stateOf(0);
    for (const i of [1, 2]) expect(zone.stateOf(i)).toEqual(expected);
    expect(expected["apps/offline"]).toBe('"written by c while away"');
    for (const i of [0, 1, 2]) expect(zone.verify(i).problems).toEqual([]);
  });

  test("a checkpoint not endorsed by more than half of the devices is refused", async () => {
    const zone = zoneOf("a", "b", "c");
    await settle(zone);
    zone.write(2, [{ key: "apps/c", value: "1" }]);
    for (let round = 0; round < 5; round++)
      zone.write(round % 2, [{ key: "apps/k", value: String(round) }]);
    await settle(zone, [0, 1]);
    await endorseInTurn(zone, zone.nowMs, [0, 1], [0, 1]);
    expect(await zone.adopt(0)).toBeDefined();
    // c, behind, is offered it with one of its two endorsements: one device of three.
    const offer = decodeOffer(offerTo(zone, 0, 2));
    expect(offer.endorsements.length).toBe(2);
    const before = zone.stateOf(2);
    const forged = encodeOffer({ ...offer, endorsements: offer.endorsements.slice(0, 1) });
    await expect(zone.take(0, 2, forged)).rejects.toThrow("more than half");
    expect(zone.stateOf(2)).toEqual(before);
    // The offer as it was is taken.
    expect(await zone.take(0, 2, encodeOffer(offer))).toBe("adopted");
    await settle(zone);
    expect(zone.stateOf(2)).toEqual(zone.stateOf(0));
  });

  test("a checkpoint the offering device replaced while it was fetched is refused as replaced, nothing of it kept, and the new one is taken", async () => {
    const zone = zoneOf("a", "b", "c");
    await settle(zone);
    zone.write(2, [{ key: "apps/c", value: "1" }]);
    await settle(zone);
    zone.write(0, [{ key: "apps/k", value: "1" }]);
    await settle(zone, [0, 1]);
    await compact(zone, [0, 1]);
    const first = offerTo(zone, 0, 2);
    // a and b compact again before c has fetched the first: a holds only its newest.
    zone.write(1, [{ key: "apps/k", value: "2" }]);
    await settle(zone, [0, 1]);
    await compact(zone, [0, 1]);
    const before = zone.stateOf(2);
    const refusal = await zone.take(0, 2, first).catch((error: unknown) => error);
    expect(checkpointReplaced(refusal)).toBe(true);
    expect(zone.stateOf(2)).toEqual(before);
    // Asked again, a offers the new one (what bucky join does on that refusal).
    expect(await zone.take(0, 2, offerTo(zone, 0, 2))).toBe("adopted");
    await settle(zone);
    expect(zone.stateOf(2)).toEqual(zone.stateOf(0));
  });

  test("a checkpoint whose pages leave out the evidence it keeps is refused", async () => {
    const zone = await adoptedWithoutC(6, 3);
    // a offers c the agreed checkpoint, its rows whole, but drops the changesets that
    // admitted the devices: c would hold membership nothing signed backs, for good.
    const withoutEvidence = (changesets: readonly Uint8Array[]) =>
      changesets.filter((bytes) => !decodeChangeset(bytes).ops.some((op) => isEvidence(op.key)));
    await expect(zone.take(0, 2, offerTo(zone, 0, 2), withoutEvidence)).rejects.toThrow(
      "not backed by the changeset that wrote it",
    );
    expect(zone.changesetCount(2)).toBe(0);
    // Whole, it is taken, and c checks out.
    await zone.sync(0, 2);
    expect(zone.stateOf(2)).toEqual(zone.stateOf(0));
    expect(zone.verify(2).problems).toEqual([]);
  });

  test("a revocation undoes what the revoked device wrote after the checkpoint, not before", async () => {
    const zone = zoneOf("a", "b", "c");
    await settle(zone);
    zone.write(2, [{ key: "apps/settled", value: '"by c, before the cut"' }]);
    await settle(zone);
    await endorseInTurn(zone, zone.nowMs, [0, 1], [0, 1]);
    await expectAdopted(zone, [0, 1]);
    // Then c writes again, and only a hears of it.
    zone.write(2, [{ key: "apps/settled", value: '"by c, after the cut"' }]);
    zone.write(2, [{ key: "apps/undone", value: '"by c, after the cut"' }]);
    await zone.sync(2, 0);
    // The owner revokes c on b, keeping none of its changesets: those the checkpoint covers
    // are settled and stay; what c wrote after it goes.
    const c = zone.device(2);
    const revocation = signRevocation(
      {
        id: deviceIdFromPublicKey(c.key.publicKey),
        name: "c" as DeviceName,
        lastSeq: 0,
        issuedAt: 2,
      },
      owner,
    );
    zone.write(1, [{ key: "devices/c/revoked", value: JSON.stringify(revocation.jws) }]);
    await settle(zone, [0, 1]);
    for (const i of [0, 1]) {
      const state = zone.stateOf(i, "apps/");
      expect(state["apps/settled"]).toBe('"by c, before the cut"');
      expect(state["apps/undone"]).toBeUndefined();
      expect(zone.verify(i).problems).toEqual([]);
    }
  });

  test("devices holding different writes of a quarantined device past its fork agree on one checkpoint and adopt it", async () => {
    const zone = zoneOf("a", "b", "c", "y");
    zone.write(3, [{ key: "apps/y", value: '"before the fork"' }]);
    await settle(zone);
    // y signs two changesets after the same one: a takes one, b the other, c neither.
    const one = zone.write(3, [{ key: "apps/y", value: '"one"' }]);
    const other = signedBeside(zone, 3, one, [{ key: "apps/y", value: '"other"' }]);
    expect(zone.ingest(0, [one.bytes], "y").applied).toHaveLength(1);
    expect(zone.ingest(1, [other.bytes], "y").applied).toHaveLength(1);
    // The proof reaches every device (it travels with sync: lib/sync/equivocation.ts).
    const proof = makeProof(one.bytes, other.bytes).bytes;
    for (const i of [0, 1, 2]) receiveProof(zone, i, proof);
    zone.write(2, [{ key: "apps/c", value: '"after the fork"' }]);
    await settle(zone, [0, 1, 2]);
    const cut = zone.nowMs;
    zone.nowMs += 1000;
    const ids = await endorseInTurn(zone, cut, [0, 1, 2], [0, 1, 2]);
    // Each covers y up to the changeset before its fork: the same checkpoint everywhere.
    expect(new Set(ids).size).toBe(1);
    for (const i of [0, 1, 2]) {
      const adopted = await zone.adopt(i);
      expect(adopted?.candidate.checkpoint.id).toBe(ids[0] as string);
      expect(adopted?.candidate.frontier.get(one.author)).toBe(one.seq - 1);
      expect(zone.verify(i).problems).toEqual([]);
    }
    // What each took past the fork stays where it was taken (a quarantine drops nothing).
    expect([0, 1, 2].map((i) => zone.stateOf(i, "apps/y")["apps/y"])).toEqual([
      '"one"',
      '"other"',
      '"before the fork"',
    ]);
  });

  /**
   * y's other history from `one`, signed with its stolen key, two changesets long: another
   * changeset at one's seq, and the next after it.
   */
  function otherHistory(zone: TestZone, one: Changeset): [Changeset, Changeset] {
    const other = signedBeside(zone, 4, one, [{ key: "apps/y", value: '"other"' }]);
    const otherNext = signedBeside(
      zone,
      4,
      one,
      [{ key: "apps/y2", value: '"other next"' }],
      other,
    );
    return [other, otherNext];
  }

  test("a device holding another history of a device, cut off past the checkpoint, takes the checkpoint and syncs on", async () => {
    const zone = zoneOf("a", "b", "c", "d", "y");
    zone.write(4, [{ key: "apps/y", value: '"before the fork"' }]);
    await settle(zone);
    // y (stolen) signs two histories from the same changeset: a, b and c get one, d,
    // partitioned, the other, two changesets long; no device meets both, so no proof forms.
    const one = zone.write(4, [{ key: "apps/y", value: '"one"' }]);
    const [other, otherNext] = otherHistory(zone, one);
    for (const i of [0, 1, 2]) zone.ingest(i, [one.bytes], "y");
    expect(zone.ingest(3, [other.bytes, otherNext.bytes], "y").applied).toHaveLength(2);
    zone.write(0, [{ key: "apps/a", value: '"after"' }]);
    await settle(zone, [0, 1, 2]);
    // The majority agrees a checkpoint covering y's first history, and prunes.
    await compact(zone, [0, 1, 2]);
    expect(holdsCheckpoint(zone, 0)).toBe(true);
    // d comes back: it takes the checkpoint (whose endorsements verify) and what follows,
    // setting aside its own history of y past what the zone settled, instead of refusing.
    await settle(zone, [0, 3]);
    expect(zone.stateOf(3, "apps/")).toEqual(zone.stateOf(0, "apps/"));
    expect(zone.stateOf(3, "apps/")["apps/y2"]).toBeUndefined();
    expect(versionVector(zone.device(3).db)).toEqual(versionVector(zone.device(0).db));
    expect(zone.verify(3).problems).toEqual([]);
    // Its history and the checkpoint's part after one changeset: d holds the proof of the fork.
    expect(proofsNamed(zone.device(3).db, zone.zone).get(one.author)).toBe(one.seq);
    // And it syncs on: a write after it reaches d.
    zone.write(1, [{ key: "apps/later", value: "1" }]);
    await settle(zone, [0, 1, 3]);
    expect(zone.stateOf(3, "apps/later")).toEqual({ "apps/later": "1" });
  });

  for (const proofHeld of [false, true])
    test(`a cut-off device holding another history of a device shorter than the checkpoint's, over a seq whose evidence row the checkpoint settled, takes it${proofHeld ? " (the proof held)" : ""}`, async () => {
      const zone = zoneOf("a", "b", "c", "d", "y");
      zone.write(4, [{ key: "apps/y", value: '"before the fork"' }]);
      await settle(zone);
      // y writes #2, an evidence row at #3, and #4; d, cut off, gets another #2 and #3
      // (signed with y's stolen key): its history of y ends before the frontier's #4.
      const one = zone.write(4, [{ key: "apps/y", value: '"one"' }]);
      const two = zone.write(4, [{ key: "revoked-agents/g1", value: '"x"' }]);
      const three = zone.write(4, [{ key: "apps/y3", value: '"three"' }]);
      const [other, otherNext] = otherHistory(zone, one);
      for (const i of [0, 1, 2]) zone.ingest(i, [one.bytes, two.bytes, three.bytes], "y");
      expect(zone.ingest(3, [other.bytes, otherNext.bytes], "y").applied).toHaveLength(2);
      zone.write(0, [{ key: "apps/a", value: '"after"' }]);
      await settle(zone, [0, 1, 2]);
      await compact(zone, [0, 1, 2]);
      if (proofHeld) {
        receiveProof(zone, 3, makeProof(one.bytes, other.bytes).bytes);
        expect(proofsNamed(zone.device(3).db, zone.zone).get(one.author)).toBe(one.seq);
      }
      // d takes the checkpoint (it was refused for good before), sets aside its history of y
      // and holds the zone's: the evidence row is backed by the changeset that wrote it.
      expect(await zone.take(0, 3, offerTo(zone, 0, 3))).toBe("adopted");
      expect(zone.stateOf(3, "apps/")).toEqual(zone.stateOf(0, "apps/"));
      expect(zone.stateOf(3, "revoked-agents/")).toEqual({ "revoked-agents/g1": '"x"' });
      expect(zone.verify(3).problems).toEqual([]);
      await settle(zone, [0, 3]);
      expect(versionVector(zone.device(3).db)).toEqual(versionVector(zone.device(0).db));
    });

  test("a kept changeset swapped for another signed with the author's stolen key sets aside nothing held, and is refused", async () => {
    const zone = zoneOf("a", "b", "c", "d");
    await settle(zone);
    for (let i = 0; i < 3; i++) zone.write(i, [{ key: `apps/k${i}`, value: "1" }]);
    await settle(zone, [0, 1, 2]);
    await compact(zone, [0, 1, 2]);
    // A peer holding a's key offers d the genuine checkpoint with its genuine endorsements,
    // but with a second #1 of a's (the zone's founding changeset) among those it keeps.
    const d = zone.device(3);
    const founding = decodeChangeset(
      d.db.$client
        .query<{ bytes: Uint8Array }, []>(
          "SELECT bytes FROM changesets WHERE seq = 1 AND author = (SELECT author FROM state WHERE key = 'boot/config')",
        )
        .get()?.bytes as Uint8Array,
    );
    const forged = signedBeside(zone, 0, founding, [{ key: "apps/zz", value: "1" }]);
    const heldFounding = () =>
      d.db.$client
        .query<{ hash: Uint8Array }, [string]>(
          "SELECT hash FROM changesets WHERE author = ? AND seq = 1",
        )
        .get(founding.author)?.hash;
    const swapped = (changesets: readonly Uint8Array[]) =>
      changesets.map((bytes) => {
        const changeset = decodeChangeset(bytes);
        return changeset.author === founding.author && changeset.seq === 1 ? forged.bytes : bytes;
      });
    await expect(zone.take(0, 3, offerTo(zone, 0, 3), swapped)).rejects.toThrow(
      `the checkpoint keeps a changeset ${founding.author}#1 other than the one held here`,
    );
    // d still holds the founding changeset, proven nothing of a, and checks out.
    expect([...new Uint8Array(heldFounding() ?? [])]).toEqual([...founding.hash]);
    expect(proofsNamed(d.db, zone.zone).size).toBe(0);
    expect(holdsCheckpoint(zone, 3)).toBe(false);
    expect(zone.verify(3).problems).toEqual([]);
    // Whole, it is taken, and d checks out.
    await settle(zone, [0, 3]);
    expect(zone.stateOf(3, "apps/")).toEqual(zone.stateOf(0, "apps/"));
    expect(zone.verify(3).problems).toEqual([]);
  });

  test("a cut-off device's history set aside leaves no evidence row unbacked: a page leaving out what it held is refused", async () => {
    const zone = zoneOf("a", "b", "c", "d", "y");
    // y admits e (its #2 is evidence), and every device takes it.
    const e = signingKeyFromSeed(new Uint8Array(32).fill(91));
    const admits = zone.write(4, [
      {
        key: "devices/e/doc",
        value: JSON.stringify(
          signDeviceDocument(
            { name: "e" as DeviceName, devicePublicKey: e.publicKey, issuedAt: 2 },
            owner,
          ).jws,
        ),
      },
    ]);
    await settle(zone);
    // y (stolen) signs two #3 after it: a, b and c get one, d, cut off, the other.
    const one = zone.write(4, [{ key: "apps/y", value: '"one"' }]);
    const other = signedBeside(zone, 4, one, [{ key: "apps/y", value: '"other"' }]);
    for (const i of [0, 1, 2]) zone.ingest(i, [one.bytes], "y");
    zone.ingest(3, [other.bytes], "y");
    zone.write(0, [{ key: "apps/a", value: '"after"' }]);
    // More than half of the six members (e never ran) endorse it: a, b, c and y itself.
    const agreeing = [0, 1, 2, 4];
    await settle(zone, agreeing);
    await compact(zone, agreeing, [0, 1, 2]);
    // a offers d the checkpoint without y's #2: d holds it, but sets it aside with the rest
    // of y's history it holds, which the checkpoint settled otherwise.
    const withoutAdmission = (changesets: readonly Uint8Array[]) =>
      changesets.filter((bytes) => {
        const changeset = decodeChangeset(bytes);
        return !(changeset.author === admits.author && changeset.seq === admits.seq);
      });
    await expect(zone.take(0, 3, offerTo(zone, 0, 3), withoutAdmission)).rejects.toThrow(
      "devices/e/doc is not backed by the changeset held",
    );
    expect(holdsCheckpoint(zone, 3)).toBe(false);
    expect(zone.verify(3).problems).toEqual([]);
    // Whole, it is taken: d syncs on, and checks out.
    await settle(zone, [0, 3]);
    expect(zone.stateOf(3, "apps/")).toEqual(zone.stateOf(0, "apps/"));
    expect(zone.verify(3).problems).toEqual([]);
  });

  test("a member writing an agent's revocation over and over keeps only the write the checkpoint holds from compaction", async () => {
    const zone = zoneOf("a", "b", "c");
    await settle(zone, [0, 1]);
    // Any member may write revoked-agents/<id>, and again: 12 changesets on one key.
    for (let i = 0; i < 12; i++)
      zone.write(1, [
        { key: "revoked-agents/grant", value: JSON.stringify({ round: i }) },
        { key: "apps/bulk", value: JSON.stringify("x".repeat(100)) },
      ]);
    zone.write(1, [{ key: "apps/last", value: "1" }]);
    await settle(zone, [0, 1]);
    const cut = zone.nowMs;
    zone.nowMs += 1000;
    await endorseInTurn(zone, cut, [0, 1], [0, 1]);
    await expectAdopted(zone, [0, 1]);
    const bId = deviceIdFromPublicKey(zone.device(1).key.publicKey);
    for (const i of [0, 1]) {
      const held = zone
        .device(i)
        .db.$client.query<{ seq: number }, [string]>(
          "SELECT seq FROM changesets WHERE author = ?1 ORDER BY seq",
        )
        .all(bId)
        .map((row) => row.seq);
      // Of b's 13 before the cut, the one holding the revocation the checkpoint holds, and
      // the last (its feed goes on from it; b's endorsement came after).
      expect(held.filter((seq) => seq <= 13)).toEqual([12, 13]);
      expect(zone.verify(i).problems).toEqual([]);
    }
    expect(zone.stateOf(0, "revoked-agents/")).toEqual({
      "revoked-agents/grant": JSON.stringify({ round: 11 }),
    });
    // c, which holds nothing, takes the checkpoint and checks out.
    await settle(zone);
    expect(zone.stateOf(2)).toEqual(zone.stateOf(0));
    expect(zone.verify(2).problems).toEqual([]);
  });

  test("a new device joins from the checkpoint and the changesets after it", async () => {
    const zone = await adoptedWithoutC(10, 4);
    // c holds nothing yet, as a device joining: it gets the checkpoint, then the tail.
    expect(zone.changesetCount(2)).toBe(0);
    await zone.sync(0, 2);
    expect(zone.stateOf(2)).toEqual(zone.stateOf(0));
    expect(zone.changesetCount(2)).toBeLessThan(zone.changesetCount(1));
    expect(zone.verify(2).problems).toEqual([]);
  });

  test("repair rebuilds on top of the checkpoint, and refuses where the checkpoint's rows were altered", async () => {
    const zone = await busyZone();
    await endorseInTurn(zone, zone.nowMs, [0, 1]);
    expect(await zone.adopt(0)).toBeDefined();
    zone.write(1, [{ key: "apps/k0", value: '"after"' }]);
    await settle(zone);
    const device = zone.device(0);
    const sqlite = device.db.$client;
    const expected = zone.stateOf(0);
    const repair = () =>
      repairState(device.db, device.seal, zone.zone, device.name, zone.nowMs, quiet);
    // A state row edited: rebuilt from the checkpoint and the changesets after it.
    sqlite.run("UPDATE state SET value = '\"edited\"' WHERE key = 'apps/k0'");
    expect(repair().repaired).toBe(true);
    expect(zone.stateOf(0)).toEqual(expected);
    expect(zone.verify(0).problems).toEqual([]);
    // A row the checkpoint holds edited (kept aside: its changeset is gone): refused.
    sqlite.run("UPDATE checkpoint_base SET value = '\"edited\"' WHERE key = 'apps/k0'");
    expect(repair).toThrow("where its checkpoint holds it");
  });

  for (const [kept, author] of [
    ["the one holding the zone's documents", 0],
    ["the last of a feed", 2],
  ] as const)
    test(`repair drops another device's damaged changeset the checkpoint keeps (${kept}); the checkpoint is taken again with it`, async () => {
      const zone = await busyZone();
      await compact(zone, [0, 1, 2]);
      zone.write(2, [{ key: "apps/after", value: '"past the cut"' }]);
      await settle(zone);
      const device = zone.device(1);
      const sqlite = device.db.$client;
      const expected = zone.stateOf(0, "apps/");
      // The first of the author's changesets held, kept from before the checkpoint.
      const id = deviceIdFromPublicKey(zone.device(author).key.publicKey);
      const row = sqlite
        .query<{ seq: number; bytes: Uint8Array }, [string]>(
          "SELECT seq, bytes FROM changesets WHERE author = ?1 ORDER BY seq LIMIT 1",
        )
        .get(id) as { seq: number; bytes: Uint8Array };
      const whole = new Uint8Array(row.bytes);
      const damaged = whole.slice();
      damaged[damaged.length - 3] = (damaged[damaged.length - 3] as number) ^ 1;
      sqlite
        .query("UPDATE changesets SET bytes = ?1 WHERE author = ?2 AND seq = ?3")
        .run(damaged, id, row.seq);
      expect(zone.verify(1).problems[0]).toContain("has a bad signature");

      const repaired = repairState(
        device.db,
        device.seal,
        zone.zone,
        device.name,
        zone.nowMs,
        quiet,
      );
      expect(repaired.dropped).toContainEqual({ author: id, seq: row.seq });
      // Mended: this device now lacks changesets the checkpoint covers, as one away past it.
      expect(zone.verify(1).problems).toEqual([]);
      expect(offerTo(zone, 0, 1)).toBeDefined();
      // Its compactor meanwhile takes nothing it cannot compute, and breaks nothing.
      zone.nowMs += 1000;
      await zone.endorse(1, zone.nowMs - 500);
      expect(await zone.adopt(1)).toBeUndefined();
      expect(zone.verify(1).problems).toEqual([]);
      // It takes the checkpoint again from a peer, what it keeps with it, then the rest.
      await settle(zone);
      const held = sqlite
        .query<{ bytes: Uint8Array }, [string, number]>(
          "SELECT bytes FROM changesets WHERE author = ?1 AND seq = ?2",
        )
        .get(id, row.seq);
      expect(new Uint8Array(held?.bytes as Uint8Array)).toEqual(whole);
      expect(zone.stateOf(1, "apps/")).toEqual(expected);
      expect(zone.stateOf(1)).toEqual(zone.stateOf(0));
      for (const i of [0, 1, 2]) expect(zone.verify(i).problems).toEqual([]);
    });
});

describe("this device's own changeset the checkpoint keeps, damaged", () => {
  test("is put back from the first peer whose copy checks out, or what one that compacted since still keeps; later ones stay; none answering, nothing changes", async () => {
    const zone = await busyZone();
    await compact(zone, [0, 1, 2]);
    zone.write(0, [{ key: "apps/after", value: '"past the cut"' }]);
    await settle(zone);
    const device = zone.device(0);
    const sqlite = device.db.$client;
    const id = deviceIdFromPublicKey(device.key.publicKey);
    const founding = () =>
      new Uint8Array(
        (
          sqlite
            .query<{ bytes: Uint8Array }, [string]>(
              "SELECT bytes FROM changesets WHERE author = ?1 AND seq = 1",
            )
            .get(id) as { bytes: Uint8Array }
        ).bytes,
      );
    const whole = founding();
    const held = zone.changesetCount(0);
    const flip = () => {
      const damaged = whole.slice();
      damaged[damaged.length - 1] = (damaged[damaged.length - 1] as number) ^ 1;
      sqlite
        .query("UPDATE changesets SET bytes = ?1 WHERE author = ?2 AND seq = 1")
        .run(damaged, id);
    };
    flip();
    expect(zone.verify(0).problems[0]).toContain("has a bad signature");
    expect(damagedOwnKept(sqlite, id, zone.zone)).toEqual([1]);

    const pageFrom = (i: number, request: Uint8Array) =>
      checkpointPage(zone.device(i).db.$client, decodePageRequest(request));
    // What a peer answers `/v1/sync/earlier` with: what it holds of an author below a seq.
    const earlierFrom = (i: number, request: Uint8Array) => {
      const { author, below } = decodeEarlierRequest(request);
      return encodeEntries({
        have: new Map(),
        entries: changesetsBelow(zone.device(i).db, author, below),
        more: false,
      });
    };
    const unasked = async (): Promise<Uint8Array> => {
      throw new Error("not asked for what it still keeps while it holds the checkpoint");
    };
    // a's key, stolen, signed another #1: its signature holds, but it is not what the
    // checkpoint's evidence rows say a's #1 wrote.
    const other = signedBeside(zone, 0, decodeChangeset(whole), [
      { key: "apps/forged", value: '"x"' },
    ]);
    const liar: KeptSource = {
      name: "liar",
      fetchEarlier: unasked,
      fetchPage: async (request) => {
        const page = decodePage(pageFrom(1, request));
        return encodePage({
          ...page,
          changesets: page.changesets.map((bytes) =>
            bytesEqual(bytes, whole) ? other.bytes : bytes,
          ),
        });
      },
    };
    const down: KeptSource = {
      name: "down",
      fetchPage: async () => {
        throw new BuckyError("E_UNAVAILABLE", "down is not answering");
      },
      fetchEarlier: unasked,
    };
    const honest: KeptSource = {
      name: "c",
      fetchPage: async (request) => pageFrom(2, request),
      fetchEarlier: unasked,
    };
    // One that compacted again since: it refuses a page of the checkpoint, as checkpointPage
    // does of one it no longer holds, and answers from what it still keeps of a.
    const compactedSince = (name: string, keeps: boolean): KeptSource => ({
      name,
      fetchPage: async () => {
        throw new BuckyError("E_NOT_FOUND", "this device no longer holds that checkpoint");
      },
      fetchEarlier: async (request) =>
        keeps
          ? earlierFrom(1, request)
          : encodeEntries({ have: new Map(), entries: [], more: false }),
    });

    await expect(putBackOwnKept(sqlite, id, zone.zone, [1], [liar, down], quiet)).rejects.toThrow(
      "no other device gave a copy of it: liar (its #1 did not write the checkpoint's boot/config); down (down is not answering)",
    );
    expect(founding()).not.toEqual(whole);

    // Every one that answered compacted past it and keeps it no more: said as it is, not
    // as a device to start.
    const gone = putBackOwnKept(sqlite, id, zone.zone, [1], [compactedSince("b", false)], quiet);
    await expect(gone).rejects.toMatchObject({ code: "E_INTEGRITY" });
    await expect(gone).rejects.toThrow(
      "compacted the zone past that checkpoint while this device was away, and keep it no more: b (it compacted past this device's checkpoint since, and keeps no #1 of it any more)",
    );
    expect(founding()).not.toEqual(whole);
    // One that keeps it yet gives it back, checked as the page's would be.
    expect(
      await putBackOwnKept(sqlite, id, zone.zone, [1], [compactedSince("b", true)], quiet),
    ).toBe("b");
    expect(founding()).toEqual(whole);
    flip();

    expect(await putBackOwnKept(sqlite, id, zone.zone, [1], [liar, down, honest], quiet)).toBe("c");
    expect(founding()).toEqual(whole);
    expect(zone.changesetCount(0)).toBe(held);
    expect(zone.verify(0).problems).toEqual([]);
    expect(zone.stateOf(0)).toEqual(zone.stateOf(1));
  });
});
