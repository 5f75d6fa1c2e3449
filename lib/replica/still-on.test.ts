/** What the zone still needs of a device being drained, from the state and what each device said. */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import { CONFLICTS_LISTED, type DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { FILES_BUDGET_BYTES } from "../ndn/stored-files.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed, testDeviceDocument, testZone } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { anythingStillOn, stillOn } from "./still-on.ts";

const NAMES = ["laptop", "nas", "tv"] as const;
const keys = new Map(NAMES.map((name, i) => [name, signingKeyFromSeed(seed(10 + i))]));
const gateway = JSON.stringify({ listen: "127.0.0.1:8080", https: false, host: null });
const copyOf = (device: string, epoch: number) =>
  conflictCopyName(Date.parse("2026-11-28T21:40:03.120Z"), device, epoch);

function zone(gateways: readonly string[]) {
  const node = openTestNode(10);
  appendLocalChangeset(
    node.db,
    { zone: testZone.id, name: "laptop", key: node.key, seal: node.seal },
    [
      { key: "boot/config", value: JSON.stringify(testZone.jws) },
      ...NAMES.map((name) => ({
        key: `devices/${name}/doc`,
        value: testDeviceDocument(keys.get(name) ?? node.key, name),
      })),
    ],
    1,
  );
  // Each gateway's key is its own device's to write.
  for (const name of gateways)
    appendLocalChangeset(
      node.db,
      {
        zone: testZone.id,
        name,
        key: keys.get(name as (typeof NAMES)[number]) ?? node.key,
        seal: node.seal,
      },
      [{ key: `nodes/${name}/gateway`, value: gateway }],
      2,
    );
  return { db: node.db, seal: node.seal, membership: loadMembership(node.db, node.zone) };
}

/** Writes `ops` as `name` does, by its own key. */
function writeAs(
  { db, seal }: ReturnType<typeof zone>,
  name: (typeof NAMES)[number],
  ops: { key: string; value: string }[],
  hlcMs: number,
) {
  const key = keys.get(name);
  if (!key) throw new Error(name);
  appendLocalChangeset(db, { zone: testZone.id, name, key, seal }, ops, hlcMs);
}

function standing(name: string, facts: DeviceFactsPayload): DeviceStanding {
  const key = keys.get(name as (typeof NAMES)[number]);
  if (!key) throw new Error(name);
  return {
    name,
    id: deviceIdFromPublicKey(key.publicKey),
    standing: "member",
    live: true,
    heardAliveAt: 0,
    facts,
    factsAt: 0,
  };
}

const copy = (name: string) => ({ name, at: "2026-11-28T21:40:03.120Z", bytes: 20, epoch: 3 });
const replicas = (names: string[], kept?: number): DeviceFactsPayload["replicas"] => ({
  held: {},
  copies: {},
  conflicts: { notes: names.map(copy) },
  ...(kept === undefined ? {} : { conflictsKept: { notes: kept } }),
});

describe("what is still on a device being drained", () => {
  test("a conflict copy no other device keeps, the keys no other device holds, the only gateway", () => {
    const { db, membership } = zone(["nas"]);
    const only = copyOf("nas", 3);
    const shared = copyOf("nas", 2);
    const devices = [
      standing("laptop", { backup: { key: true, targets: {} }, replicas: replicas([shared]) }),
      standing("nas", {
        ownerKey: true,
        backup: { key: true, targets: {} },
        replicas: replicas([only, shared]),
      }),
      standing("tv", { ownerKey: false }),
    ];
    expect(stillOn(db, membership, devices, "nas", new Set(["nas"]))).toEqual({
      conflicts: [{ app: "notes", name: only, at: "2026-11-28T21:40:03.120Z", bytes: 20 }],
      conflictsNotListed: [],
      files: [],
      backupVia: [],
      onlyOwnerKey: true,
      onlyBackupKey: false,
      onlyGateway: true,
      onlyRelay: true,
    });
  });

  test("conflict copies past those a device lists (its newest) are still on it", () => {
    const { db, membership } = zone([]);
    const listed = Array.from({ length: CONFLICTS_LISTED }, (_, i) => copyOf("nas", i + 1));
    const nas = (names: string[], kept: number) =>
      stillOn(
        db,
        membership,
        [standing("laptop", {}), standing("nas", { replicas: replicas(names, kept) })],
        "nas",
        new Set(["nas"]),
      );
    const still = nas(listed, CONFLICTS_LISTED + 5);
    expect(still.conflicts).toHaveLength(CONFLICTS_LISTED);
    expect(still.conflictsNotListed).toEqual([{ app: "notes", count: 5 }]);
    // All restored or deleted but five: those five are listed now, and nothing more.
    const now = nas(listed.slice(0, 5), 5);
    expect([now.conflicts.length, now.conflictsNotListed]).toEqual([5, []]);
    const nothingElse = {
      conflicts: [],
      files: [],
      backupVia: [],
      onlyOwnerKey: false,
      onlyBackupKey: false,
      onlyGateway: false,
      onlyRelay: false,
    };
    expect(anythingStillOn({ ...nothingElse, conflictsNotListed: still.conflictsNotListed })).toBe(
      true,
    );
    expect(anythingStillOn({ ...nothingElse, conflictsNotListed: [] })).toBe(false);
  });

  test("a device drained at the same time keeps nothing for it: both would be gone", () => {
    const { db, membership } = zone(["nas", "tv"]);
    const devices = [
      standing("laptop", {}),
      standing("nas", { ownerKey: true, backup: { key: true, targets: {} } }),
      standing("tv", { ownerKey: true, backup: { key: true, targets: {} } }),
    ];
    expect(stillOn(db, membership, devices, "nas", new Set(["nas"]))).toMatchObject({
      onlyOwnerKey: false,
      onlyBackupKey: false,
      onlyGateway: false,
    });
    expect(stillOn(db, membership, devices, "nas", new Set(["nas", "tv"]))).toMatchObject({
      onlyOwnerKey: true,
      onlyBackupKey: true,
      onlyGateway: true,
    });
  });

  test("a device that says nothing of its keys (an older one): drained, it may hold them; else it is not counted on", () => {
    const { db, membership } = zone([]);
    const devices = [standing("laptop", {}), standing("nas", {}), standing("tv", {})];
    expect(stillOn(db, membership, devices, "nas", new Set(["nas"]))).toEqual({
      conflicts: [],
      conflictsNotListed: [],
      files: [],
      backupVia: [],
      onlyOwnerKey: true,
      onlyBackupKey: true,
      onlyGateway: false,
      onlyRelay: false,
    });
    const held = { ownerKey: true, backup: { key: true, targets: {} } };
    expect(
      stillOn(
        db,
        membership,
        [...devices.slice(0, 2), standing("tv", held)],
        "nas",
        new Set(["nas"]),
      ),
    ).toMatchObject({ onlyOwnerKey: false, onlyBackupKey: false });
  });

  test("stored files no other device holds whole: within the budget, past it, an app's", () => {
    const theZone = zone([]);
    const { db, membership } = theZone;
    const id = (letter: string) => `sha256:${letter.repeat(64)}` as ObjectId;
    const file = (size: number, name: string) =>
      JSON.stringify({ size, at: "2026-12-02T00:00:00.000Z", name });
    writeAs(
      theZone,
      "nas",
      [
        { key: `system/files/${id("a")}`, value: file(10, "a.txt") },
        { key: `system/files/${id("b")}`, value: file(FILES_BUDGET_BYTES + 1, "b.iso") },
        { key: `system/files/${id("c")}`, value: file(10, "c.txt") },
        { key: `system/files/${id("d")}`, value: file(10, "d.txt") },
        { key: `system/files/apps/photos/${id("e")}`, value: file(10, "") },
        { key: `system/files/apps/photos/${id("a")}`, value: file(10, "") },
        ...["a", "b", "c", "d", "e"].map((letter) => ({
          key: `nodes/nas/files/${id(letter)}`,
          value: "true",
        })),
      ],
      3,
    );
    writeAs(theZone, "tv", [{ key: `nodes/tv/files/${id("c")}`, value: "true" }], 4);
    writeAs(theZone, "laptop", [{ key: `nodes/laptop/files/${id("d")}`, value: "true" }], 5);
    const devices = NAMES.map((name) => standing(name, {}));
    const only = (draining: string[]) =>
      stillOn(db, membership, devices, "nas", new Set(draining)).files;
    expect(only(["nas"])).toEqual([
      { id: id("a"), name: "a.txt", apps: ["photos"], bytes: 10, withinBudget: true },
      { id: id("e"), name: "", apps: ["photos"], bytes: 10, withinBudget: true },
      { id: id("b"), name: "b.iso", apps: [], bytes: FILES_BUDGET_BYTES + 1, withinBudget: false },
    ]);
    // A copy on a device drained with it is no copy.
    expect(only(["nas", "laptop"]).map((file) => file.id)).toEqual([
      id("a"),
      id("d"),
      id("e"),
      id("b"),
    ]);
  });
});
