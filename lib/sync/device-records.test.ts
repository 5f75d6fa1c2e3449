import { describe, expect, test } from "bun:test";
import { type DeviceFacts, signFacts } from "../../protocol/device-facts.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { openTestNode, seed } from "../state/test-db.ts";
import { heldRecords, keepNewest, type RecordKind } from "./device-records.ts";
import { FACTS } from "./facts.ts";

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
