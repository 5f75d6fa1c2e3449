/**
 * Giving a device the backup key: any device of the zone can back up once the owner
 * types the recovery phrase there, which the key is derived from. The phrase must be
 * this zone's (its owner key must be the zone's); the key is written like the others
 * (0600, atomically), and the phrase itself is kept nowhere. The phrase also opens the key
 * epochs begun since (lib/backup/key-epochs.ts), which the device keeps.
 */
import { existsSync } from "node:fs";
import { epochOfKeyEpochName } from "../../protocol/backup/key-epoch.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { deriveBackupRoot, deriveOwnerSeed } from "../../protocol/phrase.ts";
import { BuckyError } from "../errors.ts";
import { readKeyFile, writeKeyFile } from "../identity/key-file.ts";
import type { RecoveryPhrase } from "../identity/recovery-phrase.ts";
import type { Log } from "../log.ts";
import { openZone } from "../zone/open.ts";
import { keepEpochRoots } from "./home-keyring.ts";
import { openWithOwner, stateKeyEpochs } from "./key-epochs.ts";

export interface BackupKeyResult {
  readonly zone: string;
  readonly device: string;
  /** False when this device held the key already. */
  readonly written: boolean;
  /** The key epochs (begun by revocations) whose keys the phrase opened here and kept. */
  readonly epochs: readonly number[];
}

export function giveBackupKey(home: string, phrase: RecoveryPhrase, log: Log): BackupKeyResult {
  const zone = openZone(home, log);
  try {
    const owner = signingKeyFromSeed(deriveOwnerSeed(phrase.entropy));
    if (zoneIdFromPublicKey(owner.publicKey) !== zone.zone.id)
      throw new BuckyError(
        "E_PERMISSION",
        "that recovery phrase is another zone's: this zone's backups cannot come from it",
        "Type the 24 words written down when this zone was created.",
      );
    const root = deriveBackupRoot(phrase.entropy);
    // The key epochs begun since (a device revoked) that were not sealed to this device
    // (it joined after, or without the key): the phrase opens each, and the device keeps them.
    const epochs = openWithOwner(
      stateKeyEpochs(zone.db, zone.zone.id),
      zone.zone.id,
      deriveOwnerSeed(phrase.entropy),
    );
    keepEpochRoots(zone.paths, epochs);
    const result = {
      zone: zone.zone.id,
      device: zone.device.name,
      epochs: [...new Set([...epochs.keys()].map((name) => epochOfKeyEpochName(name) ?? 0))].sort(
        (a, b) => a - b,
      ),
    };
    const path = zone.paths.backupKey;
    if (existsSync(path)) {
      const held = readKeyFile(path, "backup", log);
      if (Buffer.compare(held, root) === 0) return { ...result, written: false };
      throw new BuckyError(
        "E_INTEGRITY",
        `${path} holds another backup key than this zone's phrase gives`,
        "Move that file aside, then run this again.",
      );
    }
    writeKeyFile(path, "backup", root);
    log.info("backup key written", { device: zone.device.name });
    return { ...result, written: true };
  } finally {
    zone.close();
  }
}
