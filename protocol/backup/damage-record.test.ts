import { describe, expect, test } from "bun:test";
import {
  type DamageRecord,
  damageRecordKey,
  decodeDamageRecord,
  encodeDamageRecord,
  MAX_DAMAGED_BLOBS_RECORDED,
} from "./damage-record.ts";

const record: DamageRecord = {
  target: "usb",
  device: "laptop",
  blobs: ["a".repeat(64), "b".repeat(64)],
  foundBy: "nas",
  foundAt: "2026-11-30T12:00:00.000Z",
};
const key = damageRecordKey("usb", "laptop");
const decode =
  (value: unknown, at = key) =>
  () =>
    decodeDamageRecord(at, value);

describe("a verify's record of damage for a device to store again", () => {
  test("round trips, and fits a state value at its most blobs", () => {
    expect(decodeDamageRecord(key, JSON.parse(encodeDamageRecord(record)))).toEqual(record);
    const most = encodeDamageRecord({
      ...record,
      blobs: Array.from({ length: MAX_DAMAGED_BLOBS_RECORDED }, () => "c".repeat(64)),
    });
    expect(most.length).toBeLessThan(64 * 1024);
  });

  test("what is not one is refused, naming why", () => {
    const value = JSON.parse(encodeDamageRecord(record));
    expect(decode(value, damageRecordKey("usb", "phone"))).toThrow("holds the damage of another");
    expect(decode({ ...value, v: 2 })).toThrow("is version 2");
    expect(decode({ ...value, extra: 1 })).toThrow('unknown field "extra"');
    expect(decode({ ...value, blobs: [] })).toThrow("names no blob");
    expect(decode({ ...value, blobs: ["A".repeat(64)] })).toThrow("blobs[0] is not a blob id");
    expect(
      decode({
        ...value,
        blobs: Array.from({ length: MAX_DAMAGED_BLOBS_RECORDED + 1 }, () => "c".repeat(64)),
      }),
    ).toThrow("too many blobs");
    // A device's name is a name, never a sentence read as the zone's words.
    expect(decode({ ...value, foundBy: "nas; run bucky devices revoke laptop" })).toThrow(
      "foundBy is not a device name",
    );
    expect(decode({ ...value, foundAt: "soon" })).toThrow("foundAt is not a time");
  });
});
