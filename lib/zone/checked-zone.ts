/**
 * Opening a home's zone, checked: nothing read from disk is trusted. The documents are
 * verified against the zone id, the key files against the documents, and the state
 * database against its seal (lib/state/integrity.ts), every time. This gives the bare
 * SQLite connection, for a command that only reads (`bucky status` with no node running
 * loads no drizzle); lib/zone/open.ts puts drizzle over it for everything else.
 */
import type { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import {
  type DeviceDocument,
  verifyDeviceDocument,
  verifyZoneDocument,
  type ZoneDocument,
} from "../../protocol/documents.ts";
import { type SigningKey, signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { deviceIdFromPublicKey, type ZoneId, zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { PairKeys } from "../../protocol/pair-key.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { BuckyError } from "../errors.ts";
import { type HomePaths, homePaths } from "../home.ts";
import { readKeyFile } from "../identity/key-file.ts";
import { RequestKeys } from "../identity/request-keys.ts";
import type { Log } from "../log.ts";
import { checkIntegrity } from "../state/integrity.ts";
import { MEND_HINT, StateSeal } from "../state/seal.ts";
import { openStateSqlite } from "../store/sqlite.ts";
import { inspectHome } from "./home-contents.ts";

export interface CheckedZone {
  readonly paths: HomePaths;
  /** The state database's connection, checked against its seal. */
  readonly sqlite: Database;
  readonly zone: ZoneDocument;
  /** This device's own document. */
  readonly device: DeviceDocument;
  readonly deviceKey: SigningKey;
  /** Every member device, by name, this one included. */
  readonly devices: readonly DeviceDocument[];
  /** Whether this device holds the owner key (and so can admit devices). */
  readonly holdsOwnerKey: boolean;
  /** The seal over this device's state, which every write keeps up to date. */
  readonly seal: StateSeal;
  /** The keys this device shares with each peer for its requests (request-auth v2). */
  readonly requestKeys: RequestKeys;
  close(): void;
}

export interface OpenOptions {
  /**
   * Check every changeset row against the seal too, not only the state: what a daemon
   * starting does (a read of the whole database).
   */
  readonly everyRow?: boolean;
}

export function openCheckedZone(home: string, log: Log, options: OpenOptions = {}): CheckedZone {
  const paths = homePaths(home);
  requireZone(paths);
  log.attachFile(paths.logsDir);
  const sqlite = openStateSqlite(paths.stateDb, { create: false });
  try {
    const verified = verifyZone(paths, sqlite, log);
    checkIntegrity(sqlite, verified.seal, verified.zone.id, {
      everyRow: options.everyRow ?? false,
      nowMs: Date.now(),
      log,
    });
    return { ...verified, paths, sqlite, close: () => sqlite.close() };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

export function requireZone(paths: HomePaths): void {
  const contents = inspectHome(paths);
  if (contents === "zone") return;
  if (contents === "interrupted") {
    throw new BuckyError(
      "E_NO_ZONE",
      `${paths.home} has no zone: an earlier \`bucky init\` was interrupted`,
      "Run `bucky init` again; it cleans up and starts over.",
    );
  }
  throw new BuckyError(
    "E_NO_ZONE",
    `${paths.home} has no zone`,
    "Create one with `bucky init`, or point --home (or BUCKY_HOME) at an existing home.",
  );
}

function verifyZone(paths: HomePaths, sqlite: Database, log: Log) {
  const self = sqlite
    .query<{ zoneId: string; deviceId: string; deviceName: string }, []>(
      "SELECT zone_id AS zoneId, device_id AS deviceId, device_name AS deviceName FROM node",
    )
    .get();
  if (!self) throw integrity(`${paths.stateDb} has no node record`);
  const zoneId = self.zoneId as ZoneId;

  const rows = sqlite
    .query<{ key: string; value: string | null }, [string, string]>(
      // GLOB, not LIKE (which ignores case): `Devices/x/doc` is any member's key to write.
      "SELECT key, value FROM state WHERE key = ? OR key GLOB ?",
    )
    .all(stateKeys.zoneDocument, `${stateKeys.devicesPrefix}*/doc`);
  const documents = new Map(rows.map((row) => [row.key, row.value]));

  const zone = verified(`the zone document in ${paths.stateDb}`, () =>
    verifyZoneDocument(jwsOf(documents.get(stateKeys.zoneDocument)), zoneId),
  );
  const devices: DeviceDocument[] = [];
  for (const [key, value] of documents) {
    if (key === stateKeys.zoneDocument || value === null) continue;
    const doc = verified(`the device document ${key} in ${paths.stateDb}`, () =>
      verifyDeviceDocument(jwsOf(value), zoneId),
    );
    if (key !== stateKeys.deviceDocument(doc.name))
      throw damagedState(`${key} holds the document of device ${doc.name}`);
    devices.push(doc);
  }
  devices.sort((a, b) => compareCodeUnits(a.name, b.name));

  const device = devices.find((doc) => doc.name === self.deviceName);
  if (!device || device.id !== self.deviceId) {
    throw damagedState(
      `this device (${self.deviceName}) has no valid document in ${paths.stateDb}`,
    );
  }
  const seed = readKeyFile(paths.deviceKey, "device", log);
  const deviceKey = signingKeyFromSeed(seed);
  if (deviceIdFromPublicKey(deviceKey.publicKey) !== device.id) {
    throw integrity(`the device key ${paths.deviceKey} does not match this device's document`);
  }
  const holdsOwnerKey = existsSync(paths.ownerKey);
  if (holdsOwnerKey) {
    const owner = signingKeyFromSeed(readKeyFile(paths.ownerKey, "owner", log));
    if (zoneIdFromPublicKey(owner.publicKey) !== zone.id) {
      throw integrity(`the owner key ${paths.ownerKey} is not the key of zone ${zone.id}`);
    }
  }
  return {
    zone,
    device,
    deviceKey,
    devices,
    holdsOwnerKey,
    seal: StateSeal.fromSeed(seed, device.id),
    requestKeys: new RequestKeys(new PairKeys(seed, device.id)),
  };
}

function jwsOf(value: string | null | undefined): string {
  if (value === null || value === undefined) throw new ProtocolError("it is missing");
  const parsed: unknown = JSON.parse(value);
  if (typeof parsed !== "string") throw new ProtocolError("it is not a JWS string");
  return parsed;
}

/**
 * Runs the verification of a document read from the state database and reports a
 * failure as an integrity error naming `what`, with how to mend the state.
 */
function verified<T>(what: string, verify: () => T): T {
  try {
    return verify();
  } catch (error) {
    if (error instanceof ProtocolError || error instanceof SyntaxError) {
      throw damagedState(`${what} failed verification: ${error.message}`, error);
    }
    throw error;
  }
}

/** What the state database holds does not verify: it can be rebuilt from its changesets. */
function damagedState(message: string, cause?: unknown): BuckyError {
  return new BuckyError("E_INTEGRITY", message, MEND_HINT, { cause });
}

function integrity(message: string, cause?: unknown): BuckyError {
  return new BuckyError(
    "E_INTEGRITY",
    message,
    "Something on this device was altered or damaged; do not trust it. Restore the home from a backup, or re-create the device from your recovery phrase.",
    { cause },
  );
}
