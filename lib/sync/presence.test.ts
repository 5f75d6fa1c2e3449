import { describe, expect, test } from "bun:test";
import { decodeCbor, encodeCbor } from "../../protocol/cbor.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { signPresence } from "../../protocol/presence.ts";
import { decodeEntries, encodeEntries } from "../../protocol/sync-messages.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import type { Member, Membership } from "./membership.ts";
import { keepPresence, lastHeardAlive, presenceToPass, receivePresence } from "./presence.ts";

const alive = signingKeyFromSeed(seed(21));
const revoked = signingKeyFromSeed(seed(22));
const stranger = signingKeyFromSeed(seed(23));
const NOW = 1_800_000_000_000;

function membership(): Membership {
  const members: Member[] = [
    {
      id: deviceIdFromPublicKey(alive.publicKey),
      name: "alive" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
    },
    {
      id: deviceIdFromPublicKey(revoked.publicKey),
      name: "revoked" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
      revokedAfterSeq: 3,
    },
  ];
  return {
    byId: new Map(members.map((m) => [m.id, m])),
    byName: new Map(members.map((m) => [m.name as string, m])),
  };
}

describe("presence", () => {
  test("a device that hears a record late counts it from when the zone first heard it", () => {
    const DAY = 86_400_000;
    const first = openTestNode(7);
    const late = openTestNode(8);
    const id = deviceIdFromPublicKey(alive.publicKey) as DeviceId;
    // A month ago, the first device heard "alive" for the last time (its clock then).
    const record = signPresence(first.zone, NOW - 30 * DAY - 5_000, alive).bytes;
    receivePresence(first.db, [record], {
      zone: first.zone,
      membership: membership(),
      nowMs: NOW - 30 * DAY,
    });
    // Now a device that joined today gets it in a sync message, with how long ago that was.
    const message = decodeEntries(
      encodeEntries({
        have: new Map(),
        entries: [],
        more: false,
        ...presenceToPass(first.db, NOW),
      }),
    );
    expect(message.presenceAgesMs).toEqual([30 * DAY]);
    receivePresence(late.db, message.presence ?? [], {
      zone: late.zone,
      membership: membership(),
      nowMs: NOW + 1_000,
      ...(message.presenceAgesMs ? { agesMs: message.presenceAgesMs } : {}),
    });
    // Both count a month (the second by its own clock, a second on: durations only).
    expect(lastHeardAlive(first.db).get(id)).toBe(NOW - 30 * DAY);
    expect(lastHeardAlive(late.db).get(id)).toBe(NOW + 1_000 - 30 * DAY);
    // An age passed on is never more than the record's own (by the receiver's clock): a
    // member cannot make a device look gone for a year.
    const third = openTestNode(10);
    receivePresence(third.db, [record], {
      zone: third.zone,
      membership: membership(),
      nowMs: NOW,
      agesMs: [365 * DAY],
    });
    expect(lastHeardAlive(third.db).get(id)).toBe(NOW - 30 * DAY - 5_000);
  });

  test("an age in a sync message is a whole number of ms, one per record", () => {
    const { zone } = openTestNode(9);
    const record = signPresence(zone, NOW, alive).bytes;
    const encode = (presenceAgesMs: unknown) =>
      encodeEntries({
        have: new Map(),
        entries: [],
        more: false,
        presence: [record],
        presenceAgesMs: presenceAgesMs as number[],
      });
    expect(decodeEntries(encode([5])).presenceAgesMs).toEqual([5]);
    // Not as long as the records: not sent at all, as from a device that says no ages.
    expect(decodeEntries(encode([5, 6])).presenceAgesMs).toBeUndefined();
    expect(() => decodeEntries(encode([-1]))).toThrow("a presence age");
    // A peer that sends ages of another length than its records, as the encoder never does:
    // refused, not matched up wrongly.
    const sent = decodeCbor(encode([5]), 1 << 20, "entries") as Record<string, unknown>;
    expect(() => decodeEntries(encodeCbor({ ...sent, presenceAgesMs: [5, 6] }))).toThrow(
      "sync presenceAgesMs must be an array as long as presence",
    );
  });

  test("keeps the newest record of each member, and passes it on", () => {
    const { db, zone } = openTestNode(2);
    const context = { zone, membership: membership(), nowMs: NOW };
    const at = (ms: number) => signPresence(zone, ms, alive).bytes;
    expect(receivePresence(db, [at(NOW - 5000)], context)).toBe(1);
    expect(receivePresence(db, [at(NOW - 1000), at(NOW - 9000)], context)).toBe(1);
    expect(receivePresence(db, [at(NOW - 1000)], context)).toBe(0);
    const id = deviceIdFromPublicKey(alive.publicKey) as DeviceId;
    // Alive as of when it was heard here: the device's clock may be slow or fast.
    expect(lastHeardAlive(db).get(id)).toBe(NOW);
    // What it passes on is the very record, still signed: a third device can check it.
    const [held] = presenceToPass(db, NOW).presence;
    const other = openTestNode(3);
    expect(receivePresence(other.db, [held as Uint8Array], { ...context, zone: other.zone })).toBe(
      1,
    );
  });

  test("a device whose clock is slow is alive when heard, not when its clock says", () => {
    const { db, zone } = openTestNode(6);
    const context = { zone, membership: membership(), nowMs: NOW };
    const tenMinutesSlow = signPresence(zone, NOW - 600_000, alive).bytes;
    expect(receivePresence(db, [tenMinutesSlow], context)).toBe(1);
    const id = deviceIdFromPublicKey(alive.publicKey) as DeviceId;
    expect(lastHeardAlive(db).get(id)).toBe(NOW);
    // The same record heard again later is no news: its device is not heard from anew.
    expect(receivePresence(db, [tenMinutesSlow], { ...context, nowMs: NOW + 60_000 })).toBe(0);
    expect(lastHeardAlive(db).get(id)).toBe(NOW);
  });

  test("passes over a revoked or unknown device, another zone, a clock far ahead, a forgery", () => {
    const { db, zone } = openTestNode(4);
    const context = { zone, membership: membership(), nowMs: NOW };
    const otherZone = openTestNode(5, 9).zone;
    const forged = signPresence(zone, NOW, alive).bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    const kept = receivePresence(
      db,
      [
        signPresence(zone, NOW, revoked).bytes,
        signPresence(zone, NOW, stranger).bytes,
        signPresence(otherZone, NOW, alive).bytes,
        signPresence(zone, NOW + 10 * 60_000, alive).bytes,
        forged,
        new Uint8Array([1, 2, 3]),
      ],
      context,
    );
    expect(kept).toBe(0);
    expect(lastHeardAlive(db).size).toBe(0);
  });

  test("a device's own record is its newest word: one it signed while its clock was ahead does not outlive it", () => {
    const { db, zone } = openTestNode(24);
    const ahead = signPresence(zone, NOW + 10 * 60_000, alive);
    const setRight = signPresence(zone, NOW, alive);
    keepPresence(db, ahead, NOW);
    keepPresence(db, setRight, NOW + 1000);
    expect(presenceToPass(db, NOW).presence).toEqual([setRight.bytes]);
  });
});
