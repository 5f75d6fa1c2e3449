/**
 * The damage a verify found, and what the device whose data it is stored again, as the
 * zone holds them when a verify on one device and a backup on another both acted on the
 * record as each last read it: whichever of the two writes the zone keeps last, what the
 * verify found stays until the device stores it again.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import {
  damageFindingKey,
  damageRecordKey,
  encodeDamageRecord,
  handledDamageKey,
} from "../../protocol/backup/damage-record.ts";
import type { Op } from "../../protocol/changeset.ts";
import type { StateDb } from "../store/db.ts";
import { foundDamageOps, handledDamageOps, readDamageRecord } from "./damage-records.ts";

const [A, B, X, Y] = ["a", "b", "c", "d"].map((c) => c.repeat(64)) as [
  string,
  string,
  string,
  string,
];

/** A state table where laptop's record in usb names A and B, found by nas at 10:00. */
function zoneState(): StateDb {
  const db = new Database(":memory:");
  db.run("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)");
  const record = {
    target: "usb",
    device: "laptop",
    blobs: [A, B],
    foundBy: "nas",
    foundAt: "2026-12-02T10:00:00.000Z",
  };
  db.query("INSERT INTO state (key, value) VALUES (?, ?)").run(
    damageRecordKey("usb", "laptop"),
    encodeDamageRecord(record),
  );
  return db as unknown as StateDb;
}

/** Writes `ops` as the zone keeps them once merged: each key's value, the last one written. */
function apply(db: StateDb, ops: readonly Op[]): void {
  const sqlite = db as unknown as Database;
  for (const op of ops)
    sqlite.query("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)").run(op.key, op.value);
}

const blobsOf = (db: StateDb) => readDamageRecord(db, "usb", "laptop")?.blobs;

describe("damage found and stored again, on two devices at once", () => {
  test("a verify's finding stays, whichever write came last, until the device stores it again", () => {
    for (const backupLast of [false, true]) {
      const db = zoneState();
      // Both act on the record as it is: laptop's backup stored A and B again, at 10:05;
      // phone's verify, meanwhile, found X too, at 10:04.
      const stored = handledDamageOps(db, "usb", "laptop", [A, B], "2026-12-02T10:05:00.000Z");
      const found = foundDamageOps(
        db,
        "usb",
        new Map([["laptop", [X]]]),
        "phone",
        "2026-12-02T10:04:00.000Z",
      );
      for (const ops of backupLast ? [found, stored] : [stored, found]) apply(db, ops);
      expect(blobsOf(db)).toEqual([X]);
      // Stored again in turn, nothing is left.
      apply(db, handledDamageOps(db, "usb", "laptop", [X], "2026-12-02T10:10:00.000Z"));
      expect(blobsOf(db)).toBeUndefined();
    }
  });

  test("a blob found damaged again after it was stored again counts again", () => {
    const db = zoneState();
    apply(db, handledDamageOps(db, "usb", "laptop", [A], "2026-12-02T10:05:00.000Z"));
    expect(blobsOf(db)).toEqual([B]);
    apply(
      db,
      foundDamageOps(db, "usb", new Map([["laptop", [A]]]), "nas", "2026-12-02T11:00:00.000Z"),
    );
    expect(blobsOf(db)?.toSorted()).toEqual([A, B]);
  });

  test("what a device says it stored again is its own: under its key, of its name", () => {
    expect(handledDamageKey("usb", "laptop")).toBe("nodes/laptop/backup/handled/usb");
    const db = zoneState();
    // Something at that key that is not what a backup stored again takes nothing off.
    apply(db, [{ key: handledDamageKey("usb", "laptop"), value: '{"v":1,"blobs":"all"}' }]);
    expect(blobsOf(db)).toEqual([A, B]);
  });

  test("two verifies at once on two devices, each finding other blobs: both stand, whichever write came last", () => {
    for (const tabletLast of [false, true]) {
      const db = zoneState();
      const byPhone = foundDamageOps(
        db,
        "usb",
        new Map([["laptop", [X]]]),
        "phone",
        "2026-12-02T10:04:00.000Z",
      );
      const byTablet = foundDamageOps(
        db,
        "usb",
        new Map([["laptop", [Y]]]),
        "tablet",
        "2026-12-02T10:04:30.000Z",
      );
      for (const ops of tabletLast ? [byPhone, byTablet] : [byTablet, byPhone]) apply(db, ops);
      expect(blobsOf(db)?.toSorted()).toEqual([A, B, X, Y]);
      expect(readDamageRecord(db, "usb", "laptop")?.foundBy).toBe("tablet");
      // Stored again, each is taken off; what is left of the others stays.
      apply(db, handledDamageOps(db, "usb", "laptop", [A, X], "2026-12-02T10:05:00.000Z"));
      expect(blobsOf(db)?.toSorted()).toEqual([B, Y]);
      apply(db, handledDamageOps(db, "usb", "laptop", [B, Y], "2026-12-02T10:06:00.000Z"));
      expect(blobsOf(db)).toBeUndefined();
    }
  });

  test("the records of a device whose name starts with another's are its own", () => {
    const db = zoneState();
    apply(
      db,
      foundDamageOps(db, "usb", new Map([["laptop2", [X]]]), "phone", "2026-12-02T10:04:00.000Z"),
    );
    expect(blobsOf(db)).toEqual([A, B]);
    expect(readDamageRecord(db, "usb", "laptop2")?.blobs).toEqual([X]);
  });

  test("what the records say together stays within what one record holds", () => {
    const db = zoneState();
    const many = Array.from({ length: 900 }, (_, i) => i.toString(16).padStart(64, "0"));
    apply(
      db,
      foundDamageOps(db, "usb", new Map([["laptop", many]]), "phone", "2026-12-02T10:04:00.000Z"),
    );
    expect(blobsOf(db)?.length).toBe(800);
    // Full, a verify finding more adds nothing until some is stored again.
    expect(
      foundDamageOps(db, "usb", new Map([["laptop", [X]]]), "tablet", "2026-12-02T10:05:00.000Z"),
    ).toEqual([]);
    apply(db, handledDamageOps(db, "usb", "laptop", [A, B], "2026-12-02T10:06:00.000Z"));
    apply(
      db,
      foundDamageOps(db, "usb", new Map([["laptop", [X]]]), "tablet", "2026-12-02T10:07:00.000Z"),
    );
    expect(blobsOf(db)).toContain(X);
    expect(blobsOf(db)?.length).toBe(799);
  });

  test("each verifier's finding is under a key of its own device, which only it writes", () => {
    expect(damageFindingKey("usb", "laptop", "phone")).toBe("nodes/phone/backup/found/usb/laptop");
  });

  test("a finding under another verifier's key is none", () => {
    const db = zoneState();
    const forged = {
      target: "usb",
      device: "laptop",
      blobs: [X],
      foundBy: "nas",
      foundAt: "2026-12-02T10:04:00.000Z",
    };
    apply(db, [
      { key: damageFindingKey("usb", "laptop", "phone"), value: encodeDamageRecord(forged) },
    ]);
    expect(blobsOf(db)).toEqual([A, B]);
  });
});
