import { describe, expect, test } from "bun:test";
import { type DeviceFacts, signFacts } from "../../protocol/device-facts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import {
  heldRecords,
  keepNewest,
  keepOwn,
  ownRecordAt,
  type RecordKind,
  receiveNewest,
} from "./device-records.ts";
import { FACTS } from "./facts.ts";
import type { Member, Membership } from "./membership.ts";

const nas = signingKeyFromSeed(seed(51));
const NOW = 1_800_000_000_000;

/** The facts kind, counting its signature checks. */
function counted(): { kind: RecordKind<DeviceFacts>; checks: () => number } {
  let checks = 0;
  const kind: RecordKind<DeviceFacts> = {
    ...FACTS,
    verify: (record, key) => {
      checks += 1;
      FACTS.verify(record, key);
    },
  };
  return { kind, checks: () => checks };
}

describe("held device records", () => {
  test("a record is checked once for its bytes, and again whenever they change", () => {
    const { db, zone } = openTestNode(50);
    const { kind, checks } = counted();
    const said = (at: number, free: number) =>
      signFacts(zone, at, { disk: { freeBytes: free, totalBytes: 9 } }, nas);
    keepNewest(db, kind, said(NOW - 5000, 1), NOW);
    const free = () =>
      heldRecords(db, kind).map((record) => (record.facts.disk as { freeBytes: number }).freeBytes);
    expect([free(), free(), free()]).toEqual([[1], [1], [1]]);
    expect(checks()).toBe(1);
    keepNewest(db, kind, said(NOW - 1000, 2), NOW);
    expect([free(), free()]).toEqual([[2], [2]]);
    expect(checks()).toBe(2);
  });

  test("a row edited on disk after it was read is left out, not answered from what was read", () => {
    const { db, zone } = openTestNode(52);
    const { kind } = counted();
    keepNewest(db, kind, signFacts(zone, NOW, { disk: { freeBytes: 1, totalBytes: 2 } }, nas), NOW);
    expect(heldRecords(db, kind)).toHaveLength(1);
    const row = db.$client.query<{ bytes: Uint8Array }, []>("SELECT bytes FROM device_facts").get();
    const edited = new Uint8Array(row?.bytes as Uint8Array);
    edited[edited.length - 3] = (edited[edited.length - 3] as number) ^ 1;
    db.$client.query("UPDATE device_facts SET bytes = ?1").run(edited);
    expect(heldRecords(db, kind)).toEqual([]);
  });
});

describe("this device's own records", () => {
  const device = deviceIdFromPublicKey(nas.publicKey);
  const said = (zone: Parameters<typeof signFacts>[0], at: number, free: number) =>
    signFacts(zone, at, { disk: { freeBytes: free, totalBytes: 9 } }, nas);

  test("once its clock went back, are dated after the last it signed, so a peer takes them", () => {
    const own = openTestNode(53);
    const peer = openTestNode(54);
    const member: Member = {
      id: device,
      name: "nas" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
    };
    const membership: Membership = {
      byId: new Map([[device, member]]),
      byName: new Map([["nas", member]]),
    };
    const context = { zone: own.zone, membership, nowMs: NOW };
    keepOwn(own.db, FACTS, said(own.zone, NOW, 1), NOW);
    receiveNewest(peer.db, FACTS, [said(own.zone, NOW, 1).bytes], context);
    // The clock set back an hour: dated by it, the next facts are older than the peer's.
    const back = NOW - 3_600_000;
    const at = ownRecordAt(own.db, FACTS, device, back, () => false);
    expect(at).toBe(NOW + 1);
    expect(receiveNewest(peer.db, FACTS, [said(own.zone, at, 2).bytes], context)).toBe(1);
    expect(receiveNewest(peer.db, FACTS, [said(own.zone, back, 3).bytes], context)).toBe(0);
  });

  test("by its clock while it runs forward, and when the zone says the last was dated ahead", () => {
    const { db, zone } = openTestNode(55);
    expect(ownRecordAt(db, FACTS, device, NOW, () => false)).toBe(NOW);
    keepOwn(db, FACTS, said(zone, NOW, 1), NOW);
    expect(ownRecordAt(db, FACTS, device, NOW + 5, () => false)).toBe(NOW + 5);
    // Refused as ahead: the peers hold an older one; after this one, it would be refused too.
    expect(ownRecordAt(db, FACTS, device, NOW - 120_000, () => true)).toBe(NOW - 120_000);
  });
});
