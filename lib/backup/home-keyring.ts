/**
 * The backup keys a home works on a target with: the phrase's root (backup.key) and every
 * key epoch (key-epochs.ts) the zone state or the target holds that this device, or the
 * owner key where the home holds it, opens. Work that seals anything (a backup, a prune,
 * hot changesets) needs the newest epoch, and files every epoch the target lacks first.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { epochOfKeyEpochName } from "../../protocol/backup/key-epoch.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { signingKeyFromSeed } from "../../protocol/ed25519.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  type ZoneId,
  zoneIdFromPublicKey,
} from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { readKeyFile, writeKeyFile } from "../identity/key-file.ts";
import type { Log } from "../log.ts";
import type { StateReader } from "../store/reads.ts";
import { openZone } from "../zone/open.ts";
import type { Backend } from "./backend.ts";
import { grantedEpochRoots } from "./epoch-grants.ts";
import {
  type BackupKeyring,
  fileBesideSnapshot,
  fileKeyEpochs,
  type KnownEpoch,
  openKeyring,
  stateKeyEpochs,
  targetKeyEpochs,
  unopenedEpochError,
} from "./key-epochs.ts";

export type HomeKeyring = BackupKeyring & {
  /** Files the epochs the target lacks: call before anything is sealed under them. */
  fileOnTarget(): Promise<void>;
  /** Files every epoch known beside snapshot `name`: call before it is filed. */
  fileBesideSnapshot(name: string): Promise<void>;
};

/** The zone as a keyring needs it: its id, its state, and the names of its devices. */
export interface KeyringZone {
  readonly zone: ZoneId;
  readonly db: StateReader;
  nameOf(id: DeviceId): string;
}

/**
 * The keyring of the home at `paths` for the target at `backend`, the zone read from the
 * home (`zone` where the caller holds it open: the daemon's). With `sealing`, throws
 * E_PERMISSION when the zone's newest epoch does not open here.
 */
export async function homeKeyring(
  paths: HomePaths,
  root: Uint8Array,
  backend: Backend,
  log: Log,
  options: { readonly sealing: boolean; readonly zone?: KeyringZone },
): Promise<HomeKeyring> {
  let zoneId: ZoneId;
  let fromState: KnownEpoch[];
  let granted: Map<string, Uint8Array>;
  let nameOf: (id: DeviceId) => string;
  const device = homeDevice(paths, log);
  if (options.zone) {
    zoneId = options.zone.zone;
    fromState = stateKeyEpochs(options.zone.db, zoneId);
    granted = device ? grantedEpochRoots(options.zone.db, zoneId, device) : new Map();
    nameOf = (id) => options.zone?.nameOf(id) ?? id;
  } else {
    let zone: ReturnType<typeof openZone> | undefined;
    try {
      zone = openZone(paths.home, log);
    } catch (error) {
      // A home whose state is damaged is restored from a snapshot, not sealed from: its
      // epochs are the target's, opened with the owner key where the home holds one.
      if (options.sealing || !(error instanceof BuckyError && error.code === "E_INTEGRITY"))
        throw error;
    }
    if (!zone) return targetOnly(paths, root, backend, log);
    try {
      zoneId = zone.zone.id;
      fromState = stateKeyEpochs(zone.db, zoneId);
      granted = device ? grantedEpochRoots(zone.db, zoneId, device) : new Map();
      const names = new Map<string, string>(zone.devices.map((d) => [d.id, d.name]));
      nameOf = (id) => names.get(id) ?? id;
    } finally {
      zone.close();
    }
  }
  return keyringOf(paths, root, backend, log, {
    zone: zoneId,
    fromState,
    granted,
    sealing: options.sealing,
    nameOf,
  });
}

/** This home's device key, where it holds one (a home being restored may not yet). */
function homeDevice(
  paths: HomePaths,
  log: Log,
): { id: DeviceId; key: SigningKey; publicKey: Uint8Array; seed: Uint8Array } | undefined {
  if (!existsSync(paths.deviceKey)) return undefined;
  const seed = readKeyFile(paths.deviceKey, "device", log);
  const key = signingKeyFromSeed(seed);
  return { id: deviceIdFromPublicKey(key.publicKey), key, publicKey: key.publicKey, seed };
}

async function keyringOf(
  paths: HomePaths,
  root: Uint8Array,
  backend: Backend,
  log: Log,
  options: {
    readonly zone: ZoneId;
    readonly fromState: readonly KnownEpoch[];
    /** Roots members gave this device (epoch-grants.ts), by name. */
    readonly granted?: ReadonlyMap<string, Uint8Array>;
    readonly sealing: boolean;
    nameOf(id: DeviceId): string;
  },
): Promise<HomeKeyring> {
  const zoneId = options.zone;
  const fromTarget = await targetKeyEpochs(backend, zoneId, options.fromState);
  // A home being restored may hold no device key yet: then the owner key opens, if any.
  const device = homeDevice(paths, log);
  const keyring = openKeyring(root, [...options.fromState, ...fromTarget], {
    zone: zoneId,
    kept: new Map([...(options.granted ?? []), ...keptEpochRoots(paths, log)]),
    ...(device ? { device } : {}),
    ...(existsSync(paths.ownerKey) ? { ownerSeed: readKeyFile(paths.ownerKey, "owner", log) } : {}),
  });
  if (options.sealing && keyring.unopened)
    throw unopenedEpochError(keyring.unopened, options.nameOf);
  return {
    ...keyring,
    fileOnTarget: () => fileKeyEpochs(backend, keyring.known, zoneId),
    fileBesideSnapshot: (name) =>
      fileBesideSnapshot(backend, name, keyring.known).catch((error: unknown) => {
        // A via of an older bucky takes no such file from a member: keys/ holds them still.
        if (!(error instanceof BuckyError && error.code === "E_PERMISSION")) throw error;
        log.warn("the device the target is reached through files no keys beside snapshots", {
          why: error.message,
        });
      }),
  };
}

/** The keyring of a home whose zone state does not open: by the owner key's zone, if any. */
function targetOnly(
  paths: HomePaths,
  root: Uint8Array,
  backend: Backend,
  log: Log,
): Promise<HomeKeyring> {
  if (!existsSync(paths.ownerKey)) {
    const keyring: HomeKeyring = {
      roots: [root],
      epoch: 0,
      known: [],
      fileOnTarget: async () => {},
      fileBesideSnapshot: async () => {},
    };
    return Promise.resolve(keyring);
  }
  const owner = signingKeyFromSeed(readKeyFile(paths.ownerKey, "owner", log));
  return keyringOf(paths, root, backend, log, {
    zone: zoneIdFromPublicKey(owner.publicKey),
    fromState: [],
    sealing: false,
    nameOf: (id) => id,
  });
}

/** The epoch roots this home keeps (opened with the phrase: keepEpochRoots), by name. */
export function keptEpochRoots(paths: HomePaths, log: Log): Map<string, Uint8Array> {
  const kept = new Map<string, Uint8Array>();
  if (!existsSync(paths.backupEpochKeysDir)) return kept;
  for (const file of readdirSync(paths.backupEpochKeysDir)) {
    const name = file.endsWith(".key") ? file.slice(0, -".key".length) : undefined;
    if (name && epochOfKeyEpochName(name) !== undefined)
      kept.set(name, readKeyFile(join(paths.backupEpochKeysDir, file), "backup", log));
  }
  return kept;
}

/** Keeps `roots` (by epoch name) in the home, as key files (0600, written atomically). */
export function keepEpochRoots(paths: HomePaths, roots: ReadonlyMap<string, Uint8Array>): void {
  if (roots.size === 0) return;
  mkdirSync(paths.backupEpochKeysDir, { recursive: true, mode: 0o700 });
  for (const [name, root] of roots)
    writeKeyFile(join(paths.backupEpochKeysDir, `${name}.key`), "backup", root);
}

/**
 * The roots of the key epochs in the zone state (`db`) that this home opens: with its
 * device key, the owner key where it holds it, a root it keeps, or one a member gave it.
 * By epoch.
 */
export function stateEpochRoots(
  paths: HomePaths,
  db: StateReader,
  zone: ZoneId,
  log: Log,
): Map<string, Uint8Array> {
  const device = homeDevice(paths, log);
  const opener = {
    zone,
    kept: new Map([
      ...(device ? grantedEpochRoots(db, zone, device) : []),
      ...keptEpochRoots(paths, log),
    ]),
    ...(device ? { device } : {}),
    ...(existsSync(paths.ownerKey) ? { ownerSeed: readKeyFile(paths.ownerKey, "owner", log) } : {}),
  };
  const roots = new Map<string, Uint8Array>();
  for (const known of stateKeyEpochs(db, zone)) {
    const ring = openKeyring(new Uint8Array(32), [known], opener);
    if (!ring.unopened && ring.roots[0]) roots.set(known.name, ring.roots[0]);
  }
  return roots;
}
