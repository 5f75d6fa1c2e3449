import { describe, expect, test } from "bun:test";
import { signFacts } from "../../protocol/device-facts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import { factsNewerThan, factsVector, heldFacts, receiveFacts } from "./facts.ts";
import type { Member, Membership } from "./membership.ts";

const nas = signingKeyFromSeed(seed(31));
const old = signingKeyFromSeed(seed(32));
const stranger = signingKeyFromSeed(seed(33));
const NOW = 1_800_000_000_000;

function membership(): Membership {
  const members: Member[] = [
    {
      id: deviceIdFromPublicKey(nas.publicKey),
      name: "nas" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
    },
    {
      id: deviceIdFromPublicKey(old.publicKey),
      name: "old" as DeviceName,
      admittedAtMs: 0,
      quarantined: false,
      revokedAfterSeq: 1,
    },
  ];
  return {
    byId: new Map(members.map((m) => [m.id, m])),
    byName: new Map(members.map((m) => [m.name as string, m])),
  };
}

describe("device facts, held", () => {
  test("the newest of each device is kept and passed on only to a peer that lacks it", () => {
    const { db, zone } = openTestNode(40);
    const context = { zone, membership: membership(), nowMs: NOW };
    const said = (at: number, disk: number) =>
      signFacts(zone, at, { disk: { freeBytes: disk, totalBytes: 9 } }, nas).bytes;
    expect(receiveFacts(db, [said(NOW - 5000, 1)], context)).toBe(1);
    expect(receiveFacts(db, [said(NOW - 9000, 2)], context)).toBe(0);
    expect(receiveFacts(db, [said(NOW - 1000, 3)], context)).toBe(1);
    expect(heldFacts(db).map((f) => f.facts)).toEqual([{ disk: { freeBytes: 3, totalBytes: 9 } }]);
    const id = deviceIdFromPublicKey(nas.publicKey);
    expect(factsNewerThan(db, new Map([[id, NOW - 1000]]))).toEqual([]);
    expect(factsNewerThan(db, new Map([[id, NOW - 2000]]))).toHaveLength(1);
    expect(factsVector(db).get(id)).toBe(NOW - 1000);
  });

  test("a revoked device's last word is kept; a stranger's and a forged one are not", () => {
    const { db, zone } = openTestNode(41);
    const context = { zone, membership: membership(), nowMs: NOW };
    expect(receiveFacts(db, [signFacts(zone, NOW, {}, old).bytes], context)).toBe(1);
    expect(receiveFacts(db, [signFacts(zone, NOW, {}, stranger).bytes], context)).toBe(0);
    const forged = signFacts(zone, NOW, { backup: { key: true, targets: {} } }, nas).bytes.slice();
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1;
    expect(receiveFacts(db, [forged], context)).toBe(0);
  });

  test("a row edited on disk is left out when read, not believed", () => {
    const { db, zone } = openTestNode(42);
    const context = { zone, membership: membership(), nowMs: NOW };
    receiveFacts(
      db,
      [signFacts(zone, NOW, { disk: { freeBytes: 1, totalBytes: 2 } }, nas).bytes],
      context,
    );
    const row = db.$client.query<{ bytes: Uint8Array }, []>("SELECT bytes FROM device_facts").get();
    const edited = new Uint8Array(row?.bytes as Uint8Array);
    edited[edited.length - 3] = (edited[edited.length - 3] as number) ^ 1;
    db.$client.query("UPDATE device_facts SET bytes = ?1").run(edited);
    expect(heldFacts(db)).toEqual([]);
  });
});
