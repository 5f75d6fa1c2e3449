/**
 * The device key in a home's snapshots, sealed to the zone's owner
 * (protocol/backup/sealed-device-key.ts): every member holds the backup key, and a revoked
 * device may have kept it, so a key in the clear in a snapshot would be every member's.
 *
 * Backing up, the key goes in as `identity/device.key.sealed`, never in the clear. A home
 * restore puts a device key in place before it opens the restored zone state: the one in
 * the clear of an older bucky's snapshot; else the home's own, when it is the snapshot's
 * device (a restore in place); else the sealed one, opened with the owner key a box
 * recovered from the phrase holds. Without any of them it stops, and the home is left as
 * it was. A restore into a directory writes the snapshot's files as they are: the sealed
 * key, never an opened one.
 */
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  CLEAR_DEVICE_KEY_FILE,
  MAX_SEALED_DEVICE_KEY_BYTES,
  openDeviceKey,
  SEALED_DEVICE_KEY_FILE,
  sealDeviceKey,
  sealedDeviceKeyOf,
} from "../../protocol/backup/sealed-device-key.ts";
import { checkSnapshotSignature } from "../../protocol/backup/snapshot-signature.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, deviceIdFromPublicKey, type ZoneId } from "../../protocol/ids.ts";
import { BuckyError, fileSystemError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { readKeyFile, writeKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import type { Entry } from "./archiver.ts";
import type { NamedSnapshot } from "./snapshot-trust.ts";

/** Where a snapshot of an older bucky holds a device key in the clear (as verify walks it). */
export const CLEAR_DEVICE_KEY_PATH = `/identity/${CLEAR_DEVICE_KEY_FILE}`;

/** The names in `identity/` a snapshot never takes as they are on disk. */
export const DEVICE_KEY_FILES: ReadonlySet<string> = new Set([
  CLEAR_DEVICE_KEY_FILE,
  SEALED_DEVICE_KEY_FILE,
]);

/** This home's device key sealed to the owner of `zone`, as a snapshot's file. */
export function sealedDeviceKeyEntry(
  paths: HomePaths,
  zone: ZoneId,
  log: Log,
): [name: string, entry: Entry] {
  const seed = readKeyFile(paths.deviceKey, "device", log);
  return [
    SEALED_DEVICE_KEY_FILE,
    {
      kind: "bytes",
      bytes: sealDeviceKey({ zone, seed, ephemeral: randomBytes(32), nonce: randomBytes(12) }),
      mode: 0o600,
      mtimeNs: statSync(paths.deviceKey, { bigint: true }).mtimeNs,
    },
  ];
}

/** How a home restore got its device key, and whether the key says the snapshot is not taken. */
export interface StagedDeviceKey {
  /**
   * The home's own, the sealed one opened, or an older bucky's in the clear; `refused`
   * when the snapshot is not taken for it: not signed, yet holding a sealed key (planted),
   * or holding another device's key than the one that signed it (a copy of another's
   * home filed in its own name). Nothing is opened then.
   */
  readonly how: "own" | "opened" | "clear" | "refused";
  readonly refused?: BuckyError;
}

/**
 * Puts the device key of the home restored from `chosen` in `staged` (its restored
 * `identity/`), as `device.key`, and takes the sealed one out: the clear one of an older
 * bucky's snapshot; the home's own, when it is the snapshot's device; or the sealed one,
 * opened with the home's owner key. Throws, writing nothing to the home, when it has none.
 */
export function stageDeviceKey(
  staged: string,
  chosen: NamedSnapshot,
  options: { readonly paths: HomePaths; readonly zone: ZoneId; readonly log: Log },
): StagedDeviceKey {
  const { paths, log } = options;
  const clear = join(staged, CLEAR_DEVICE_KEY_FILE);
  const sealedPath = join(staged, SEALED_DEVICE_KEY_FILE);
  const of = `snapshot ${chosen.name.slice(0, 8)} of ${chosen.snapshot.device}`;
  if (existsSync(clear)) {
    rmSync(sealedPath, { force: true });
    return { how: "clear" };
  }
  if (!existsSync(sealedPath))
    throw new BuckyError(
      "E_INTEGRITY",
      `${of} holds no device key; the home was left as it was`,
      "Restore another snapshot (see them with `bucky backup list`).",
    );
  const file = readSealed(sealedPath);
  let device: DeviceId;
  try {
    device = sealedDeviceKeyOf(file);
  } catch (error) {
    throw unreadable(of, error);
  }
  const signature = checkSnapshotSignature(chosen.name, chosen.snapshot, options.zone);
  // Only this bucky seals keys, and it signs every snapshot it takes: an unsigned snapshot
  // holding a sealed key was filed by someone holding the backup key, who could have put a
  // device's real sealed key beside data of their own.
  const refused =
    signature.kind !== "signed"
      ? new BuckyError(
          "E_INTEGRITY",
          `${of} is not signed, yet holds a sealed device key, which only a signed snapshot does; the home was left as it was`,
          "Someone holding the backup key filed it. Restore another snapshot (see them and who signed each with `bucky backup list`).",
        )
      : signature.by !== device
        ? new BuckyError(
            "E_INTEGRITY",
            `${of} holds another device's key than the one that signed it; the home was left as it was`,
            "Someone holding the backup key filed a copy of another device's home in its own name. Restore another snapshot (see them with `bucky backup list`).",
          )
        : undefined;
  if (refused) return { how: "refused", refused };
  if (ownDevice(paths, log) === device) {
    cpSync(paths.deviceKey, clear, { preserveTimestamps: true });
    rmSync(sealedPath);
    log.debug("restore keeps the home's own device key", { device });
    return { how: "own" };
  }
  if (!existsSync(paths.ownerKey))
    throw new BuckyError(
      "E_PERMISSION",
      `${of} holds its device key sealed to the zone's owner, and this home holds neither that key nor the owner key to open it; the home was left as it was`,
      "Restore it with the recovery phrase: on a new box, `bucky init --recover`, then `bucky backup restore` there; or restore its files into a directory with --to.",
    );
  let opened: { seed: Uint8Array };
  try {
    opened = openDeviceKey({ file, ownerSeed: readKeyFile(paths.ownerKey, "owner", log) });
  } catch (error) {
    throw unreadable(of, error);
  }
  writeKeyFile(clear, "device", opened.seed);
  rmSync(sealedPath);
  return { how: "opened" };
}

/** The device whose key the home holds, if it holds one. */
export function ownDevice(paths: HomePaths, log: Log): DeviceId | undefined {
  if (!existsSync(paths.deviceKey)) return undefined;
  return deviceIdFromPublicKey(
    signingKeyFromSeed(readKeyFile(paths.deviceKey, "device", log)).publicKey,
  );
}

function readSealed(path: string): Uint8Array {
  try {
    if (statSync(path).size > MAX_SEALED_DEVICE_KEY_BYTES)
      return new Uint8Array(MAX_SEALED_DEVICE_KEY_BYTES + 1);
    return new Uint8Array(readFileSync(path));
  } catch (error) {
    throw fileSystemError(error, "read", path) ?? error;
  }
}

function unreadable(of: string, error: unknown): BuckyError {
  if (!(error instanceof ProtocolError)) throw error;
  return new BuckyError(
    "E_INTEGRITY",
    `${of} holds a sealed device key that does not open with this zone's owner key: ${error.message}; the home was left as it was`,
    "Restore another snapshot (see them with `bucky backup list`).",
  );
}

/**
 * A snapshot's identity/ never brings the owner or backup key, nor a hidden file (a
 * genuine one holds none): a member that backed up last could otherwise replace, on a
 * box just recovered, the owner key the phrase rebuilt.
 */
export function leaveOutOtherKeys(identity: string): void {
  if (!existsSync(identity)) return;
  for (const name of readdirSync(identity))
    if (name === "owner.key" || name === "backup.key" || name.startsWith("."))
      rmSync(join(identity, name), { recursive: true, force: true });
}
