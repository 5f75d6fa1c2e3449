/**
 * Creating a zone on this box (`bucky init`, and `bucky init --recover`). The recovery
 * phrase is shown only after the home is committed, so the leftovers of an interrupted
 * init never belong to a phrase the user has seen.
 */
import { randomBytes } from "node:crypto";
import {
  type DeviceDocument,
  signDeviceDocument,
  signZoneDocument,
  type ZoneDocument,
} from "../../protocol/documents.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import type { DeviceName, ZoneName } from "../../protocol/names.ts";
import { deriveBackupRoot, deriveOwnerSeed } from "../../protocol/phrase.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import type { Log } from "../log.ts";
import { appendLocalChangeset } from "../state/feed.ts";
import { StateSeal } from "../state/seal.ts";
import {
  buildHome,
  createStagedDb,
  finishStagedDb,
  type HomeStep,
  writeIdentity,
} from "./home-staging.ts";

export interface CreateZoneOptions {
  readonly home: string;
  readonly zoneName: ZoneName;
  readonly deviceName: DeviceName;
  /** The recovery phrase's entropy: fresh for a new zone, the user's to recover one. */
  readonly entropy: Uint8Array;
  readonly nowMs: number;
  readonly log: Log;
  readonly onStep?: (step: HomeStep) => void;
}

export interface CreatedZone {
  readonly zone: ZoneDocument;
  readonly device: DeviceDocument;
}

export async function createZone(options: CreateZoneOptions): Promise<CreatedZone> {
  const created = await buildHome(
    options.home,
    options.log,
    (staging) => {
      const ownerSeed = deriveOwnerSeed(options.entropy);
      const owner = signingKeyFromSeed(ownerSeed);
      const deviceSeed = new Uint8Array(randomBytes(32));
      const device = signingKeyFromSeed(deviceSeed);
      const issuedAt = Math.floor(options.nowMs / 1000);
      const zone = signZoneDocument({ name: options.zoneName, issuedAt }, owner);
      const deviceDoc = signDeviceDocument(
        { name: options.deviceName, devicePublicKey: device.publicKey, issuedAt },
        owner,
      );
      writeIdentity(staging, {
        owner: ownerSeed,
        device: deviceSeed,
        backup: deriveBackupRoot(options.entropy),
      });
      const seal = StateSeal.fromSeed(deviceSeed, deviceDoc.id);
      const db = createStagedDb(
        staging,
        {
          zone: zone.id,
          id: deviceDoc.id,
          name: options.deviceName,
          seal,
        },
        options.nowMs,
      );
      try {
        // The zone's first changeset: the documents every other device verifies it by.
        appendLocalChangeset(
          db,
          { zone: zone.id, name: options.deviceName, key: device, seal },
          [
            { key: stateKeys.zoneDocument, value: JSON.stringify(zone.jws) },
            {
              key: stateKeys.deviceDocument(options.deviceName),
              value: JSON.stringify(deviceDoc.jws),
            },
          ],
          options.nowMs,
        );
      } finally {
        finishStagedDb(staging, db);
      }
      return { zone, device: deviceDoc };
    },
    options.onStep,
  );
  options.log.info("zone created", {
    zone: created.zone.id,
    name: created.zone.name,
    device: created.device.name,
  });
  return created;
}
