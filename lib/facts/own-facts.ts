/**
 * What this device knows of itself, read from its home now: the part of its device facts
 * (lib/facts/publisher.ts says them) that `bucky status` also reads for the device it
 * runs on, whose published facts may be seconds old.
 */
import { existsSync, statfsSync } from "node:fs";
import { backupKeyProof } from "../../protocol/backup/epoch-grant.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { readHotFailing } from "../backup/hot-status.ts";
import { readBackupStatus, sinceAdded, type TargetStatus } from "../backup/status.ts";
import { readZoneTargets, resolveTargets } from "../backup/zone-targets.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import type { StateReader } from "../store/reads.ts";
import type { DeviceFactsPayload } from "./payload.ts";

/** Free space is said to the nearest this share of the disk. */
const DISK_STEP = 0.01;

/**
 * What this device knows of itself, read from its home now: whether it holds the owner
 * key, its backups to the zone's
 * targets (not to one since removed) and its disk. (Its gateway's traffic is counted by
 * the running gateway and said by the daemon.)
 */
export function ownFacts(
  paths: HomePaths,
  db: StateReader,
  self: string,
  /** To prove it holds the backup key (its root), where it says so to the zone. */
  proving?: { readonly zone: ZoneId; readonly device: DeviceId; root(): Uint8Array | undefined },
): Pick<DeviceFactsPayload, "ownerKey" | "backup" | "disk"> {
  const root = proving?.root();
  const status = readBackupStatus(paths);
  const hotFailing = readHotFailing(paths);
  const targets = new Set(zoneTargetNames(paths, db, self));
  // Of a target reached through another device, only what is of the one the zone has now.
  const throughOthers = new Map(
    readZoneTargets(db)
      .filter((t) => t.via !== self)
      .map((t) => [t.name, Date.parse(t.addedAt)]),
  );
  return {
    ownerKey: existsSync(paths.ownerKey),
    backup: {
      key: existsSync(paths.backupKey),
      ...(proving && root ? { keyProof: backupKeyProof(root, proving.zone, proving.device) } : {}),
      targets: Object.fromEntries(
        [...new Set([...Object.keys(status), ...Object.keys(hotFailing)])]
          .filter((name) => targets.has(name))
          .map((name) => {
            const target: TargetStatus = status[name] ?? {};
            const addedAtMs = throughOthers.get(name);
            // Prunes are the device's that reaches the target: what this device said of
            // them, reaching it once, is of no prune it does now.
            const { lastPrune: _, lastPruneError: __, ...reached } = target;
            const said = addedAtMs === undefined ? target : sinceAdded(reached, addedAtMs);
            const hot = hotFailing[name];
            return [name, hot ? { ...said, hotFailing: hot } : said];
          }),
      ),
    },
    disk: diskOf(paths.home),
  };
}

function zoneTargetNames(paths: HomePaths, db: StateReader, self: string): string[] {
  try {
    return resolveTargets(paths, db, self).map((t) => t.name);
  } catch (error) {
    // This device's own file is damaged (said elsewhere): the zone's records still count.
    if (!(error instanceof BuckyError)) throw error;
    return readZoneTargets(db).map((t) => t.name);
  }
}

function diskOf(home: string): DeviceFactsPayload["disk"] {
  try {
    const stats = statfsSync(home);
    const totalBytes = stats.blocks * stats.bsize;
    const step = Math.max(1, Math.floor(totalBytes * DISK_STEP));
    return { freeBytes: Math.floor((stats.bavail * stats.bsize) / step) * step, totalBytes };
  } catch {
    return undefined;
  }
}
