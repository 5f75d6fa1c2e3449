import { afterAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { keyEpochName, readKeyEpoch, signKeyEpoch } from "../../protocol/backup/key-epoch.ts";
import { encodeZoneTarget, zoneTargetKey } from "../../protocol/backup/zone-target.ts";
import { type Op, signChangeset } from "../../protocol/changeset.ts";
import { signFacts } from "../../protocol/device-facts.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { toBase64url } from "../../protocol/encoding.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { signPresence } from "../../protocol/presence.ts";
import { EpochGiver } from "../backup/epoch-giver.ts";
import {
  KEY_EPOCH_PREFIX,
  type KnownEpoch,
  newestOpenToRevoked,
  stateKeyEpochs,
} from "../backup/key-epochs.ts";
import { createLog } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { ownerTestContext, testNodeContext } from "../node/test-node-context.ts";
import { startDrain } from "../replica/drain.ts";
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
import { keepFacts } from "../sync/facts.ts";
import { keepPresence } from "../sync/presence.ts";
import { listDevices, renewOpenKeyEpoch, revokeDevice } from "./devices.ts";

afterAll(removeTestDatabases);

const quietLog = createLog({ level: "silent" });

const NOW_MS = Date.parse("2026-11-29T14:00:00.000Z");

/**
 * Device "a" (a fresh node from `nodeSeed`), founding the zone with `members` besides
 * itself: the node, and how it writes `ops` at `ms`.
 */
function foundedBy(nodeSeed: number, members: Readonly<Record<string, SigningKey>>) {
  const node = openTestNode(nodeSeed);
  const write = (ops: readonly Op[], ms: number) =>
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
      ops,
      ms,
    );
  write(foundingOps({ a: node.key, ...members }), 1000);
  return { node, write };
}

/** The owner's revocation of the laptop `key` after its #`lastSeq`, as a state op. */
function laptopRevoked(key: SigningKey, lastSeq: number, issuedAt = 2): Op {
  const revocation = signRevocation(
    { name: "laptop" as DeviceName, id: deviceIdFromPublicKey(key.publicKey), issuedAt, lastSeq },
    testOwner,
  );
  return { key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) };
}

/** nas, up, says the laptop's clock is 125.4 s ahead, in the zone's facts `node` holds. */
function nasSaysLaptopAhead(node: TestNode, nas: SigningKey): void {
  keepFacts(
    node.db,
    signFacts(
      testZone.id,
      NOW_MS - 1000,
      { clockAhead: { laptop: { aheadMs: 125_400, since: "2026-11-29T13:00:00.000Z" } } },
      nas,
    ),
    NOW_MS,
  );
  // nas is up: a device gone quiet says nothing of another's clock (its last facts would for good).
  keepPresence(node.db, signPresence(testZone.id, NOW_MS - 1000, nas), NOW_MS);
}

/** `node`'s context as device "a" at NOW_MS, holding the owner key. */
const ownerContext = (node: TestNode) => ownerTestContext(node, "a", { now: () => NOW_MS });

/**
 * The laptop revoked on one device holding the owner key, the phone on another, neither
 * hearing of the other first: each epoch #1 is sealed to the one the other revoked.
 * Written into the state of "a" (a fresh node from `nodeSeed`), with nas staying.
 */
function revokedAtOnce(nodeSeed: number) {
  const laptop = signingKeyFromSeed(seed(nodeSeed + 100));
  const phone = signingKeyFromSeed(seed(nodeSeed + 101));
  const nas = signingKeyFromSeed(seed(nodeSeed + 102));
  const { node, write } = foundedBy(nodeSeed, { laptop, phone, nas });
  const id = (key: SigningKey) => deviceIdFromPublicKey(key.publicKey);
  const revokedWithEpoch = (name: string, key: SigningKey, others: SigningKey[]): Op[] => {
    const revocation = signRevocation(
      { name: name as DeviceName, id: id(key), issuedAt: 2, lastSeq: 0 },
      testOwner,
    );
    const bytes = signKeyEpoch({
      zone: testZone.id,
      epoch: 1,
      root: new Uint8Array(randomBytes(32)),
      revoked: id(key),
      devices: [node.key, ...others].map(id),
      owner: testOwner,
      random: (n) => new Uint8Array(randomBytes(n)),
    });
    const epochName = keyEpochName(readKeyEpoch(bytes, testZone.id));
    return [
      { key: `devices/${name}/revoked`, value: JSON.stringify(revocation.jws) },
      { key: `${KEY_EPOCH_PREFIX}${epochName}`, value: JSON.stringify(toBase64url(bytes)) },
    ];
  };
  write(revokedWithEpoch("laptop", laptop, [phone, nas]), 2000);
  write(revokedWithEpoch("phone", phone, [laptop, nas]), 3000);
  return {
    node,
    context: ownerContext(node),
    ids: { a: id(node.key), laptop: id(laptop), phone: id(phone), nas: id(nas) },
  };
}

/** The devices the newest key epoch in `node`'s state is sealed to (there is one). */
function newestSealedTo(node: TestNode): DeviceId[] {
  const known = stateKeyEpochs(node.db, testZone.id);
  const newest = Math.max(...known.map((e) => e.epoch));
  const top = known.filter((e) => e.epoch === newest);
  expect(top.length).toBe(1);
  return [...readKeyEpoch((top[0] as KnownEpoch).bytes, testZone.id).devices.keys()].sort();
}

/** No clock measured of any caller. */
const contacts = { get: () => undefined, clockOffsetMs: () => undefined };
const noPull = () => Promise.reject(new Error("nobody is asked"));

/** What `bucky devices` says of the laptop. */
const laptopView = (context: NodeContext) =>
  listDevices(context, contacts, 60_000).find((d) => d.name === "laptop");

describe("bucky devices", () => {
  test("says whose clock is ahead from the zone's facts, as every device does, not from its own memory", () => {
    const nas = signingKeyFromSeed(seed(61));
    const laptop = signingKeyFromSeed(seed(62));
    // Two devices asked alike: a (this one) and b; nas says laptop's clock is ahead.
    const clocks = [63, 64].map((byte) => {
      const { node } = foundedBy(byte, { nas, laptop });
      nasSaysLaptopAhead(node, nas);
      const context = testNodeContext(node, "a", { now: () => NOW_MS });
      // What this process last measured of each caller's clock: different on each device.
      const measured = (id: DeviceId) => (id === context.deviceId ? undefined : byte * 1000);
      const measuring = { get: () => undefined, clockOffsetMs: measured };
      const devices = listDevices(context, measuring, 60_000);
      return devices.map(({ id: _id, ...view }) => view);
    });
    // The same answer on both, whatever each measured.
    expect(clocks[1]).toEqual(clocks[0] as (typeof clocks)[number]);
    expect(Object.fromEntries((clocks[0] ?? []).map((d) => [d.name, d.clockAhead]))).toEqual({
      a: null,
      laptop: {
        by: ["nas"],
        figures: [{ by: "nas", seconds: 125, since: "2026-11-29T13:00:00.000Z" }],
      },
      nas: null,
    });
  });

  test("a device heard before this clock was set back is not online for as long as the step", () => {
    const nas = signingKeyFromSeed(seed(71));
    const laptop = signingKeyFromSeed(seed(72));
    const { node } = foundedBy(73, { nas, laptop });
    // laptop heard an hour ago, when this device's clock ran an hour ahead (set back since);
    // nas heard a second ago.
    keepPresence(
      node.db,
      signPresence(testZone.id, NOW_MS + 3_600_000, laptop),
      NOW_MS + 3_600_000,
    );
    keepPresence(node.db, signPresence(testZone.id, NOW_MS - 1000, nas), NOW_MS - 1000);
    const context = testNodeContext(node, "a", { now: () => NOW_MS });
    const status = Object.fromEntries(
      listDevices(context, contacts, 60_000).map((device) => [device.name, device.status]),
    );
    expect(status).toEqual({ a: "online", laptop: "offline", nas: "online" });
  });

  test("a revoked device is named for its clock by no one, as in status", () => {
    const nas = signingKeyFromSeed(seed(65));
    const laptop = signingKeyFromSeed(seed(66));
    const { node, write } = foundedBy(67, { nas, laptop });
    write([laptopRevoked(laptop, 0)], 2000);
    nasSaysLaptopAhead(node, nas);
    const context = testNodeContext(node, "a", { now: () => NOW_MS });
    expect(laptopView(context)?.clockAhead).toBeNull();
  });

  test("a revoked device is said to be revoked, not no device, when drained", () => {
    const laptop = signingKeyFromSeed(seed(93));
    const { node, write } = foundedBy(94, { laptop });
    write([laptopRevoked(laptop, 0)], 2000);
    const context = testNodeContext(node, "a", { now: () => NOW_MS });
    expect(() => startDrain(context, "laptop", true)).toThrow(
      "cannot drain laptop: laptop is revoked, no member of the zone in good standing",
    );
    expect(() => startDrain(context, "phone", true)).toThrow("the zone has no device named phone");
  });

  /** A zone where laptop is revoked keeping #1–#5, and a proof of its fork at `fork` is held. */
  function revokedAndForked(nodeSeed: number, fork: number) {
    const laptop = signingKeyFromSeed(seed(nodeSeed));
    const laptopId = deviceIdFromPublicKey(laptop.publicKey);
    const { node, write } = foundedBy(nodeSeed + 1, { laptop });
    write([laptopRevoked(laptop, 5)], 2000);
    const twin = (value: string) =>
      signChangeset(
        {
          zone: testZone.id,
          author: laptopId,
          seq: fork,
          prev: fork === 1 ? null : new Uint8Array(32),
          hlc: { ms: 1500, counter: 0 },
          ops: [{ key: "apps/x", value }],
        },
        laptop,
      ).bytes;
    node.db.$client
      .query(
        "INSERT INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, ?, 0, ?, ?)",
      )
      .run(laptopId, fork, twin("1"), twin("2"));
    // This device holds the owner key.
    return { context: ownerContext(node), laptopId };
  }

  test("a revoked device proven to fork is revoked, with no quarantine to act on", () => {
    const { context } = revokedAndForked(68, 3);
    expect(laptopView(context)).toMatchObject({ status: "revoked", quarantinedFrom: null });
  });

  test("a revoked device proven to fork within its cut is said, and revoking it again keeps what came before the fork", async () => {
    const { context, laptopId } = revokedAndForked(70, 3);
    expect(laptopView(context)).toMatchObject({
      status: "revoked",
      quarantinedFrom: null,
      revokedFork: { device: "laptop", keptSeq: 5, seq: 3, recutSeq: 2, admitted: [] },
    });
    const revoked = await revokeDevice(context, "laptop", noPull);
    expect(revoked).toMatchObject({ name: "laptop", keptSeq: 2 });
    expect(context.membership().byId.get(laptopId)).toMatchObject({
      revokedAfterSeq: 2,
      refusedFromSeq: 3,
    });
    expect(laptopView(context)?.revokedFork).toBeNull();
    // Once cut before the fork, revoking again changes nothing.
    expect(await revokeDevice(context, "laptop", noPull)).toMatchObject({ keptSeq: 2 });
  });

  test("a revoked device whose history parts at #1 cannot be revoked below it: said, nothing signed", async () => {
    const { context, laptopId } = revokedAndForked(72, 1);
    expect(laptopView(context)?.revokedFork).toMatchObject({ seq: 1, recutSeq: 0 });
    await expect(revokeDevice(context, "laptop", noPull)).rejects.toMatchObject({
      code: "E_INVALID_INPUT",
    });
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBe(5);
  });

  test("revoking a device says whether it may hold the backup key, and where the backups it may still read are", async () => {
    const laptop = signingKeyFromSeed(seed(77));
    const phone = signingKeyFromSeed(seed(78));
    const tablet = signingKeyFromSeed(seed(79));
    const { node, write } = foundedBy(80, { laptop, phone, tablet });
    // usb is reached through the laptop: the others' backups go there by it.
    const usb = {
      name: "usb",
      url: "/mnt/usb",
      via: "laptop" as DeviceName,
      addedAt: new Date(1500).toISOString(),
    };
    write([{ key: zoneTargetKey("usb"), value: encodeZoneTarget(usb) }], 1500);
    const says = (key: SigningKey, backup: { key: boolean; targets: Record<string, object> }) =>
      keepFacts(node.db, signFacts(testZone.id, NOW_MS - 1000, { backup }, key), NOW_MS);
    says(laptop, { key: true, targets: { usb: {}, "off-site": {} } });
    says(phone, { key: false, targets: {} });
    const context = ownerContext(node);
    expect(await revokeDevice(context, "laptop", noPull)).toMatchObject({
      heldBackupKey: true,
      backupTargets: ["off-site", "usb"],
      targetsThrough: ["usb"],
    });
    expect(await revokeDevice(context, "phone", noPull)).toMatchObject({
      heldBackupKey: false,
      backupTargets: [],
      targetsThrough: [],
    });
    // It never said: it may.
    expect(await revokeDevice(context, "tablet", noPull)).toMatchObject({ heldBackupKey: true });
  });

  test("two revocations at once, each with its epoch sealed to the device the other revoked: a device holding the owner key renews, once", () => {
    const { node, context, ids } = revokedAtOnce(84);
    expect(newestOpenToRevoked(node.db, testZone.id, context.membership())).toEqual(
      [ids.laptop, ids.phone].sort(),
    );
    expect(renewOpenKeyEpoch(context)).toBe(2);
    expect(newestSealedTo(node)).toEqual([ids.a, ids.nas].sort());
    expect(newestOpenToRevoked(node.db, testZone.id, context.membership())).toEqual([]);
    expect(renewOpenKeyEpoch(context)).toBeUndefined();
  });

  test("a revoked device given the newest epoch by a member that had not heard of its revocation is shut out too", () => {
    const laptop = signingKeyFromSeed(seed(187));
    const phone = signingKeyFromSeed(seed(188));
    const nas = signingKeyFromSeed(seed(189));
    const { node, write } = foundedBy(87, { laptop, phone, nas });
    const id = (key: SigningKey) => deviceIdFromPublicKey(key.publicKey);
    const bytes = signKeyEpoch({
      zone: testZone.id,
      epoch: 1,
      root: new Uint8Array(randomBytes(32)),
      revoked: id(laptop),
      devices: [id(node.key), id(nas)],
      owner: testOwner,
      random: (n) => new Uint8Array(randomBytes(n)),
    });
    const name = keyEpochName(readKeyEpoch(bytes, testZone.id));
    const revocation = (who: string, key: SigningKey) =>
      signRevocation({ name: who as DeviceName, id: id(key), issuedAt: 2, lastSeq: 0 }, testOwner);
    write(
      [
        { key: "devices/laptop/revoked", value: JSON.stringify(revocation("laptop", laptop).jws) },
        { key: `${KEY_EPOCH_PREFIX}${name}`, value: JSON.stringify(toBase64url(bytes)) },
      ],
      2000,
    );
    // nas gives epoch 1 on to the phone, whose facts proved it holds the key.
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "nas", key: nas, seal: node.seal },
      [
        {
          key: `nodes/nas/backup-epoch-grants/${name}/${id(phone)}`,
          value: JSON.stringify("sealed"),
        },
      ],
      2500,
    );
    // A context of its own each time: it keeps the members it read until it writes.
    const open = () => newestOpenToRevoked(node.db, testZone.id, ownerContext(node).membership());
    expect(open()).toEqual([]);
    write(
      [{ key: "devices/phone/revoked", value: JSON.stringify(revocation("phone", phone).jws) }],
      3000,
    );
    expect(open()).toEqual([id(phone)]);
    expect(renewOpenKeyEpoch(ownerContext(node))).toBe(2);
    expect(newestSealedTo(node)).toEqual([id(node.key), id(nas)].sort());
  });

  test("the daemon's epoch giver renews it as it starts, holding the owner key; not without", () => {
    const without = revokedAtOnce(85);
    const idle = new EpochGiver(without.context, quietLog);
    Object.assign(without.context.zone, { holdsOwnerKey: false });
    idle.start();
    idle.stop();
    expect(newestOpenToRevoked(without.node.db, testZone.id, without.context.membership())).toEqual(
      [without.ids.laptop, without.ids.phone].sort(),
    );
    const { node, context, ids } = revokedAtOnce(86);
    Object.assign(context.zone, { holdsOwnerKey: true });
    const giver = new EpochGiver(context, quietLog);
    giver.start();
    giver.stop();
    expect(newestSealedTo(node)).toEqual([ids.a, ids.nas].sort());
    // A stolen nas writes grants of the new epoch to both revoked devices: said, not renewed
    // for again (no member makes the owner's device draw epochs without end).
    const [newest] = stateKeyEpochs(node.db, testZone.id).filter((e) => e.epoch === 2);
    appendLocalChangeset(
      node.db,
      { zone: testZone.id, name: "nas", key: signingKeyFromSeed(seed(86 + 102)), seal: node.seal },
      [ids.laptop, ids.phone].map((id) => ({
        key: `nodes/nas/backup-epoch-grants/${newest?.name}/${id}`,
        value: JSON.stringify("junk"),
      })),
      4000,
    );
    // Open again to the one the new epoch does not name as shut out (the other is passed over).
    expect(newestOpenToRevoked(node.db, testZone.id, ownerContext(node).membership()).length).toBe(
      1,
    );
    giver.start();
    giver.stop();
    expect(Math.max(...stateKeyEpochs(node.db, testZone.id).map((e) => e.epoch))).toBe(2);
  });

  test("revoking a device given a revoked device's name, on a device whose clock is behind that revocation, is signed after it and stays", async () => {
    const old = signingKeyFromSeed(seed(74));
    const laptop = signingKeyFromSeed(seed(75));
    const laptopId = deviceIdFromPublicKey(laptop.publicKey);
    const { node, write } = foundedBy(76, { laptop: old });
    // The old laptop's revocation, signed on a clock an hour ahead of this device's.
    write([laptopRevoked(old, 0, Math.floor(NOW_MS / 1000) + 3600)], 2000);
    write([{ key: "devices/laptop/doc", value: testDeviceDocument(laptop, "laptop") }], 3000);
    const context = ownerContext(node);
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBeUndefined();
    await revokeDevice(context, "laptop", noPull);
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBe(0);
  });
});
