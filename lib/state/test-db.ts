/** A fresh state database for one device of a fresh zone, for tests of lib/state. */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { signDeviceDocument, signZoneDocument } from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { WRITE_RULES_LEVEL } from "../../protocol/write-rules.ts";
import { openStateDb, type StateDb } from "../store/db.ts";
import { node } from "../store/schema.ts";
import { TEST_SCRATCH_ROOT } from "../test-scratch.ts";
import { StateSeal } from "./seal.ts";

export interface TestNode {
  readonly db: StateDb;
  readonly zone: ZoneId;
  readonly key: SigningKey;
  readonly seal: StateSeal;
}

export function seed(byte: number): Uint8Array {
  return new Uint8Array(32).fill(byte);
}

/** The owner of the zone "home" whose owner key is made from seed 1 (openTestNode's default). */
export const testOwner = signingKeyFromSeed(seed(1));
export const testZone = signZoneDocument({ name: "home" as ZoneName, issuedAt: 1 }, testOwner);

/** The owner-signed document of device `name` with `key`, as the state holds it (JSON). */
export function testDeviceDocument(key: SigningKey, name: string): string {
  return JSON.stringify(
    signDeviceDocument(
      { name: name as DeviceName, devicePublicKey: key.publicKey, issuedAt: 1 },
      testOwner,
    ).jws,
  );
}

/**
 * The ops that found the test zone with `devices` as its members, by name (each with its
 * key): the zone's document and each device's owner-signed document.
 */
export function foundingOps(
  devices: Readonly<Record<string, SigningKey>>,
): { key: string; value: string }[] {
  return [
    { key: "boot/config", value: JSON.stringify(testZone.jws) },
    ...Object.entries(devices).map(([name, key]) => ({
      key: `devices/${name}/doc`,
      value: testDeviceDocument(key, name),
    })),
  ];
}

/**
 * The info device `name` publishes of itself, as this bucky says it: what a zone's writer
 * reads to know the member takes this bucky's writes (lib/zone/readers.ts).
 */
export function infoOp(name: string): { key: string; value: string } {
  return {
    key: `devices/${name}/info`,
    value: JSON.stringify({ addrs: [], cert: "", version: "0.1.0", writeRules: WRITE_RULES_LEVEL }),
  };
}

// One directory per test process (bun runs every test file in one), made when first
// needed and removed at the end of the run (test/preload.ts).
let dir: string | undefined;
let opened = 0;

export function removeTestDatabases(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

export function openTestNode(deviceSeed: number, ownerSeed = 1): TestNode {
  const zone = zoneIdFromPublicKey(signingKeyFromSeed(seed(ownerSeed)).publicKey);
  const key = signingKeyFromSeed(seed(deviceSeed));
  const deviceId = deviceIdFromPublicKey(key.publicKey);
  const seal = StateSeal.fromSeed(seed(deviceSeed), deviceId);
  dir ??= mkdtempSync(join(TEST_SCRATCH_ROOT, "bucky-state-"));
  const db = openStateDb(join(dir, `state-${++opened}.db`), { create: true });
  db.insert(node)
    .values({ id: 1, zoneId: zone, deviceId, deviceName: `d${deviceSeed}` })
    .run();
  seal.init(db.$client);
  return { db, zone, key, seal };
}
