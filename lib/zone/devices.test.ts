import { afterAll, describe, expect, test } from "bun:test";
import { signChangeset } from "../../protocol/changeset.ts";
import { signFacts } from "../../protocol/device-facts.ts";
import { signRevocation } from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { signPresence } from "../../protocol/presence.ts";
import { testNodeContext } from "../node/test-node-context.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import {
  foundingOps,
  openTestNode,
  removeTestDatabases,
  seed,
  testDeviceDocument,
  testOwner,
  testZone,
} from "../state/test-db.ts";
import { keepFacts } from "../sync/facts.ts";
import { keepPresence } from "../sync/presence.ts";
import { listDevices, revokeDevice } from "./devices.ts";

afterAll(removeTestDatabases);

const NOW_MS = Date.parse("2026-11-29T14:00:00.000Z");

describe("bucky devices", () => {
  test("says whose clock is ahead from the zone's facts, as every device does, not from its own memory", () => {
    const nas = signingKeyFromSeed(seed(61));
    const laptop = signingKeyFromSeed(seed(62));
    // Two devices asked alike: a (this one) and b; nas says laptop's clock is ahead.
    const clocks = [63, 64].map((byte) => {
      const node = openTestNode(byte);
      appendLocalChangeset(
        node.db,
        { zone: testZone.id, name: "a", key: node.key, seal: node.seal },
        foundingOps({ a: node.key, nas, laptop }),
        1000,
      );
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
      const context = testNodeContext(node, "a", { now: () => NOW_MS });
      // What this process last measured of each caller's clock: different on each device.
      const measured = (id: DeviceId) => (id === context.deviceId ? undefined : byte * 1000);
      const contacts = { get: () => undefined, clockOffsetMs: measured };
      const devices = listDevices(context, contacts, 60_000);
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

  test("a revoked device is named for its clock by no one, as in status", () => {
    const nas = signingKeyFromSeed(seed(65));
    const laptop = signingKeyFromSeed(seed(66));
    const node = openTestNode(67);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key, nas, laptop }), 1000);
    const revocation = signRevocation(
      {
        name: "laptop" as DeviceName,
        id: deviceIdFromPublicKey(laptop.publicKey),
        issuedAt: 2,
        lastSeq: 0,
      },
      testOwner,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
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
    keepPresence(node.db, signPresence(testZone.id, NOW_MS - 1000, nas), NOW_MS);
    const context = testNodeContext(node, "a", { now: () => NOW_MS });
    const contacts = { get: () => undefined, clockOffsetMs: () => undefined };
    const laptopView = listDevices(context, contacts, 60_000).find((d) => d.name === "laptop");
    expect(laptopView?.clockAhead).toBeNull();
  });

  test("a revoked device proven to fork is revoked, with no quarantine to act on", () => {
    const laptop = signingKeyFromSeed(seed(68));
    const laptopId = deviceIdFromPublicKey(laptop.publicKey);
    const node = openTestNode(69);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key, laptop }), 1000);
    const revocation = signRevocation(
      { name: "laptop" as DeviceName, id: laptopId, issuedAt: 2, lastSeq: 5 },
      testOwner,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
    const twin = (value: string) =>
      signChangeset(
        {
          zone: testZone.id,
          author: laptopId,
          seq: 3,
          prev: new Uint8Array(32),
          hlc: { ms: 1500, counter: 0 },
          ops: [{ key: "apps/x", value }],
        },
        laptop,
      ).bytes;
    node.db.$client
      .query(
        "INSERT INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, 3, 0, ?, ?)",
      )
      .run(laptopId, twin("1"), twin("2"));
    const context = testNodeContext(node, "a", { now: () => NOW_MS });
    const contacts = { get: () => undefined, clockOffsetMs: () => undefined };
    const laptopView = listDevices(context, contacts, 60_000).find((d) => d.name === "laptop");
    expect(laptopView).toMatchObject({ status: "revoked", quarantinedFrom: null });
  });

  /** A zone where laptop is revoked keeping #1–#5, and a proof of its fork at `fork` is held. */
  function revokedAndForked(nodeSeed: number, fork: number) {
    const laptop = signingKeyFromSeed(seed(nodeSeed));
    const laptopId = deviceIdFromPublicKey(laptop.publicKey);
    const node = openTestNode(nodeSeed + 1);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key, laptop }), 1000);
    const revocation = signRevocation(
      { name: "laptop" as DeviceName, id: laptopId, issuedAt: 2, lastSeq: 5 },
      testOwner,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
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
    const context = Object.assign(testNodeContext(node, "a", { now: () => NOW_MS }), {
      ownerKey: () => testOwner,
    });
    return { context, laptopId };
  }

  const contacts = { get: () => undefined, clockOffsetMs: () => undefined };
  const noPull = () => Promise.reject(new Error("nobody is asked"));

  test("a revoked device proven to fork within its cut is said, and revoking it again keeps what came before the fork", async () => {
    const { context, laptopId } = revokedAndForked(70, 3);
    expect(listDevices(context, contacts, 60_000).find((d) => d.name === "laptop")).toMatchObject({
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
    expect(
      listDevices(context, contacts, 60_000).find((d) => d.name === "laptop")?.revokedFork,
    ).toBeNull();
    // Once cut before the fork, revoking again changes nothing.
    expect(await revokeDevice(context, "laptop", noPull)).toMatchObject({ keptSeq: 2 });
  });

  test("a revoked device whose history parts at #1 cannot be revoked below it: said, nothing signed", async () => {
    const { context, laptopId } = revokedAndForked(72, 1);
    expect(
      listDevices(context, contacts, 60_000).find((d) => d.name === "laptop")?.revokedFork,
    ).toMatchObject({ seq: 1, recutSeq: 0 });
    await expect(revokeDevice(context, "laptop", noPull)).rejects.toMatchObject({
      code: "E_INVALID_INPUT",
    });
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBe(5);
  });

  test("revoking a device given a revoked device's name, on a device whose clock is behind that revocation, is signed after it and stays", async () => {
    const old = signingKeyFromSeed(seed(74));
    const laptop = signingKeyFromSeed(seed(75));
    const laptopId = deviceIdFromPublicKey(laptop.publicKey);
    const node = openTestNode(76);
    const author = { zone: testZone.id, name: "a", key: node.key, seal: node.seal };
    appendLocalChangeset(node.db, author, foundingOps({ a: node.key, laptop: old }), 1000);
    // The old laptop's revocation, signed on a clock an hour ahead of this device's.
    const ahead = Math.floor(NOW_MS / 1000) + 3600;
    const revocation = signRevocation(
      {
        name: "laptop" as DeviceName,
        id: deviceIdFromPublicKey(old.publicKey),
        issuedAt: ahead,
        lastSeq: 0,
      },
      testOwner,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/laptop/revoked", value: JSON.stringify(revocation.jws) }],
      2000,
    );
    appendLocalChangeset(
      node.db,
      author,
      [{ key: "devices/laptop/doc", value: testDeviceDocument(laptop, "laptop") }],
      3000,
    );
    const context = Object.assign(testNodeContext(node, "a", { now: () => NOW_MS }), {
      ownerKey: () => testOwner,
    });
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBeUndefined();
    await revokeDevice(context, "laptop", noPull);
    expect(context.membership().byId.get(laptopId)?.revokedAfterSeq).toBe(0);
  });
});
