/** What the zone still needs of a device being drained, from the state and what each device said. */
import { describe, expect, test } from "bun:test";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { conflictCopyName } from "../../protocol/replica.ts";
import type { DeviceFactsPayload } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { openTestNode, seed, testDeviceDocument, testZone } from "../state/test-db.ts";
import { loadMembership } from "../sync/membership.ts";
import { stillOn } from "./still-on.ts";

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
  return { db: node.db, membership: loadMembership(node.db, node.zone) };
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
const replicas = (names: string[]): DeviceFactsPayload["replicas"] => ({
  held: {},
  copies: {},
  conflicts: { notes: names.map(copy) },
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
      backupVia: [],
      onlyOwnerKey: true,
      onlyBackupKey: false,
      onlyGateway: true,
      onlyRelay: true,
    });
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
});
