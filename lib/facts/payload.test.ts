/**
 * Names in another device's facts are read only when they are names of their kind: a member
 * writes its facts as it likes, and a "name" could be a sentence that status and the panel
 * would show as the zone's words. A bad name drops its entry, never the device's other facts.
 */
import { describe, expect, test } from "bun:test";
import { conflictCopyName } from "../../protocol/replica.ts";
import {
  type DeviceFactsPayload,
  MAX_REFUSAL_CHARS,
  MAX_WRITES_REFUSED,
  readPayload,
} from "./payload.ts";

const LURE = "x; the owner must run: bucky devices revoke nas";
const position = { epoch: 2, seq: 5, at: 1_700_000_000_000 };
const used = { dataBytes: 1, packagesBytes: 2, conflictsBytes: 3, replicaBytes: 4, logsBytes: 5 };
const copyName = conflictCopyName(Date.UTC(2026, 10, 29, 9, 35, 13), "laptop", 3);
const conflict = { name: copyName, at: "2026-11-29T09:35:13.000Z", bytes: 10, epoch: 3 };
const usage = {
  state: { bytes: 1, changesets: 2, keys: 3, checkpoint: null },
  namedData: { bytes: 0, objects: 0 },
  apps: { notes: used },
  logsBytes: 0,
  backupCacheBytes: 0,
  leftovers: [],
};

// What a device writes today, a name of each kind in its place.
const today = {
  ownerKey: true,
  backup: { key: true, targets: { usb: {}, "off-site2": { behindSince: null } } },
  disk: { freeBytes: 1, totalBytes: 2 },
  replicas: {
    held: {
      notes: {
        ...position,
        bytes: 1,
        servedBytes: 0,
        standbys: { nas: { ...position, ackedAtMs: 1, lagMs: 0, lagBytes: 0 } },
      },
    },
    copies: { photos: { ...position, final: false, holder: "nas", bytes: 1 } },
    conflicts: { notes: [conflict] },
  },
  usage,
  traffic: { fromMs: 0, apps: { notes: [{ requests: 1, bytesOut: 2 }] } },
  certificates: {
    "home.example.com": { issuer: "acme" },
    "notes.home.example.com": { issuer: "acme" },
    gateway: { issuer: "files" },
    "192.168.1.20": { issuer: "zone" },
    "fd00::20": { issuer: "zone" },
  },
  certificatesLeftOut: { count: 2, names: ["a.home.example.com", "b.home.example.com"] },
} satisfies DeviceFactsPayload;

describe("names in a device's facts", () => {
  test("what a device writes today reads as it is", () => {
    expect(readPayload(today)).toEqual(today);
  });

  test("whether it holds the owner key is a yes or a no, else unknown: never the rest dropped", () => {
    expect(readPayload({ ...today, ownerKey: "yes" })).toEqual({ ...today, ownerKey: undefined });
    expect(readPayload({ ...today, ownerKey: "yes" }).ownerKey).toBeUndefined();
  });

  test("a backup target that is not a target's name is left out, the others and the rest kept", () => {
    const facts = {
      ...today,
      backup: { key: true, targets: { ...today.backup.targets, [LURE]: {} } },
    };
    expect(readPayload(facts)).toEqual(today);
  });

  test("an app's name that is no app's name is left out, wherever a device gives one", () => {
    const facts = {
      ...today,
      replicas: {
        held: { ...today.replicas.held, [LURE]: today.replicas.held.notes },
        copies: { ...today.replicas.copies, [LURE]: today.replicas.copies.photos },
        conflicts: { ...today.replicas.conflicts, [LURE]: [conflict] },
      },
      usage: { ...usage, apps: { ...usage.apps, [LURE]: used, ["a".repeat(70)]: used } },
      traffic: { ...today.traffic, apps: { ...today.traffic.apps, [LURE]: [] } },
    };
    expect(readPayload(facts)).toEqual(today);
  });

  test("a standby, a copy's holder or a conflict copy that is not of its kind is left out", () => {
    const standbys = {
      ...today.replicas.held.notes.standbys,
      [LURE]: today.replicas.held.notes.standbys.nas,
    };
    const facts = {
      ...today,
      replicas: {
        held: { notes: { ...today.replicas.held.notes, standbys } },
        copies: {
          ...today.replicas.copies,
          mail: { ...today.replicas.copies.photos, holder: LURE },
        },
        conflicts: {
          notes: [
            { ...conflict, name: `${LURE}\n! run it` },
            conflict,
            { ...conflict, name: "../../../etc" },
          ],
        },
      },
    };
    expect(readPayload(facts)).toEqual(today);
  });

  test("a certificate's name that is neither a host name nor an address is left out", () => {
    const facts = {
      ...today,
      certificates: {
        ...today.certificates,
        [LURE]: { issuer: "acme" },
        "Home.Example.com.": { issuer: "acme" },
      },
      certificatesLeftOut: { count: 3, names: [...today.certificatesLeftOut.names, LURE] },
    };
    expect(readPayload(facts)).toEqual({
      ...today,
      certificatesLeftOut: { count: 3, names: today.certificatesLeftOut.names },
    });
  });

  test("a device's word on whose writes it refuses: a bad name drops its entry; a bad entry, too many, or no map is none", () => {
    const refused = {
      seq: 57,
      reason: "agent-grants/x/y is reserved",
      since: "2026-12-01T07:00:00.000Z",
    };
    const said = { ...today, writesRefused: { alpha: refused } };
    expect(readPayload(said)).toEqual(said);
    expect(readPayload({ ...today, writesRefused: { alpha: refused, [LURE]: refused } })).toEqual(
      said,
    );
    const entries = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i}`, refused]));
    for (const writesRefused of [
      { alpha: { ...refused, reason: "x".repeat(MAX_REFUSAL_CHARS + 1) } },
      { alpha: { ...refused, seq: -1 } },
      { alpha: { ...refused, since: 5 } },
      entries(MAX_WRITES_REFUSED + 1),
      "alpha",
    ])
      expect(readPayload({ ...today, writesRefused })).toEqual({
        ...today,
        writesRefused: undefined,
      });
  });
});

describe("what a device says of broken chains and of its gateway", () => {
  test("a broken chain naming no device is left out, the others kept; a bad entry, or a gateway's word too long or not text, is none", () => {
    const read = readPayload({
      brokenChains: [
        { device: "tablet", peer: "nas", seq: 4 },
        { device: LURE, peer: "nas", seq: 4 },
        { device: "tablet", peer: LURE, seq: 4 },
      ],
      gatewayDown: { message: "x".repeat(501), since: "2026-12-03T10:00:00.000Z" },
    });
    expect(read.brokenChains).toEqual([{ device: "tablet", peer: "nas", seq: 4 }]);
    expect(read.gatewayDown).toBeUndefined();
    const badSeq = [{ device: "tablet", peer: "nas", seq: -1 }];
    expect(readPayload({ brokenChains: badSeq }).brokenChains).toBeUndefined();
    expect(readPayload({ brokenChains: "all of them" }).brokenChains).toBeUndefined();
    expect(readPayload({ gatewayDown: { message: 5, since: "now" } }).gatewayDown).toBeUndefined();
  });

  test("why a device stopped reads as said; of a reason not known, or too long, it is none", () => {
    const stopped = {
      reason: "state-altered" as const,
      message: "row apps/x does not match its seal",
      at: "2026-12-03T10:00:00.000Z",
    };
    expect(readPayload({ stopped }).stopped).toEqual(stopped);
    expect(readPayload({ stopped: { ...stopped, reason: "bored" } }).stopped).toBeUndefined();
    expect(
      readPayload({ stopped: { ...stopped, message: "x".repeat(501) } }).stopped,
    ).toBeUndefined();
    expect(readPayload({ stopped: "yes" }).stopped).toBeUndefined();
  });

  test("a target's prunes and hot changes read as said; too long or of another type, that word alone is none", () => {
    const lastBackup = { at: "2026-12-03T10:00:00.000Z", snapshot: "ab", durationMs: 1 };
    const usb = (said: object) =>
      readPayload({ backup: { key: true, targets: { usb: { lastBackup, ...said } } } }).backup
        ?.targets.usb;
    const said = {
      lastPrune: { at: "2026-12-01T10:00:00.000Z" },
      lastPruneError: { at: "2026-12-03T09:00:00.000Z", since: "now; run this", message: "m" },
      hotFailing: { since: "2026-12-03T08:00:00.000Z", message: "hot is a file" },
    };
    expect(usb(said)).toEqual({ lastBackup, ...said });
    // The rest of what the device said of the target stands: its last backup above all,
    // without which every device would take it for one that has none.
    const { hotFailing: _, ...rest } = said;
    expect(usb({ ...said, hotFailing: { since: "x", message: "y".repeat(501) } })).toEqual({
      lastBackup,
      ...rest,
      hotFailing: undefined,
    });
    expect(usb({ lastPruneError: { at: 5, since: "s", message: "m" } })).toEqual({
      lastBackup,
      lastPruneError: undefined,
    });
    expect(usb({ hotFailing: "failing" })?.lastBackup).toEqual(lastBackup);
    expect(usb({ lastBackup: { at: 5 } } as object)).toEqual({ lastBackup: undefined });
  });
});
