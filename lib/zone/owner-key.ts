/**
 * Giving a device the owner key: the owner types the recovery phrase there, which the key
 * is derived from, so the zone keeps a device that admits and revokes devices, approves
 * gateways and renews the zone CA when the one that held it is retired. The phrase must
 * be this zone's (its key must be the zone's); the key is written like the others (0600,
 * atomically), and the phrase itself is kept nowhere.
 */
import { existsSync } from "node:fs";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { zoneIdFromPublicKey } from "../../protocol/ids.ts";
import { deriveOwnerSeed } from "../../protocol/phrase.ts";
import { BuckyError } from "../errors.ts";
import { readKeyFile, writeKeyFile } from "../identity/key-file.ts";
import type { RecoveryPhrase } from "../identity/recovery-phrase.ts";
import type { Log } from "../log.ts";
import { openZone } from "./open.ts";

export interface OwnerKeyResult {
  readonly zone: string;
  readonly device: string;
  /** False when this device held the key already. */
  readonly written: boolean;
}

export function giveOwnerKey(home: string, phrase: RecoveryPhrase, log: Log): OwnerKeyResult {
  const zone = openZone(home, log);
  try {
    const seed = deriveOwnerSeed(phrase.entropy);
    if (zoneIdFromPublicKey(signingKeyFromSeed(seed).publicKey) !== zone.zone.id)
      throw new BuckyError(
        "E_PERMISSION",
        "that recovery phrase is another zone's: it gives no owner key of this zone",
        "Type the 24 words written down when this zone was created.",
      );
    const result = { zone: zone.zone.id, device: zone.device.name };
    const path = zone.paths.ownerKey;
    if (existsSync(path)) {
      if (Buffer.compare(readKeyFile(path, "owner", log), seed) === 0)
        return { ...result, written: false };
      throw new BuckyError(
        "E_INTEGRITY",
        `${path} holds another key than this zone's phrase gives`,
        "Move that file aside, then run this again.",
      );
    }
    writeKeyFile(path, "owner", seed);
    log.info("owner key written", { device: zone.device.name });
    return { ...result, written: true };
  } finally {
    zone.close();
  }
}
