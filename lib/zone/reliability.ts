/**
 * The reliability level of a zone (DESIGN.md), computed from facts about it, with the
 * warnings a person should act on, in plain words.
 *
 *   0  one device, no backup
 *   1  a backup outside the zone
 *   2  and a second device that replicates the zone state
 *   3  and app data replicated on two devices, and verified backups (app data is not
 *      replicated yet, so no zone reaches level 3 today)
 */

/** A backup older than this is worth a warning. */
export const STALE_BACKUP_MS = 24 * 60 * 60 * 1000;

export interface ReliabilityFacts {
  readonly deviceCount: number;
  readonly nowMs: number;
  /** The newest successful backup to any target, if any. */
  readonly lastBackupAtMs?: number;
  /** The newest verify of any target. */
  readonly lastVerify?: { readonly atMs: number; readonly ok: boolean; readonly target: string };
  /** Targets whose last backup failed, with why. */
  readonly failing?: readonly { readonly target: string; readonly message: string }[];
  /** Targets whose backups do not keep up with what is written. */
  readonly behind?: readonly string[];
}

export interface Reliability {
  readonly level: 0 | 1 | 2 | 3;
  readonly summary: string;
  readonly warnings: readonly string[];
}

export function assessReliability(facts: ReliabilityFacts): Reliability {
  const warnings: string[] = [];
  for (const { target, message } of facts.failing ?? [])
    warnings.push(`the last backup to ${target} failed: ${message}`);
  for (const target of facts.behind ?? [])
    warnings.push(`backups to ${target} cannot keep up: data is written faster than it uploads`);
  if (facts.lastBackupAtMs === undefined) {
    warnings.push(
      "there is no backup outside the zone yet: add a target with `bucky backup target add`",
    );
    return {
      level: 0,
      summary:
        facts.deviceCount === 1
          ? "one device, no backup: data may be lost at any time"
          : "no backup outside the zone: data may be lost at any time",
      warnings,
    };
  }
  const age = facts.nowMs - facts.lastBackupAtMs;
  if (age > STALE_BACKUP_MS)
    warnings.push(`the last backup is ${Math.floor(age / 3_600_000)} hours old`);
  if (!facts.lastVerify)
    warnings.push("no backup has been verified yet: run `bucky backup verify --read-data`");
  else if (!facts.lastVerify.ok)
    warnings.push(
      `the last verify of ${facts.lastVerify.target} found damage: run \`bucky backup verify\` to see what`,
    );
  else if (facts.nowMs - facts.lastVerify.atMs > 7 * STALE_BACKUP_MS)
    warnings.push("the backups have not been verified for over a week");
  if (facts.deviceCount < 2) {
    return {
      level: 1,
      summary: "backed up outside the zone: safe up to the last backup",
      warnings,
    };
  }
  return {
    level: 2,
    summary:
      "backed up, and the zone state is on two or more devices: reads stay available when one fails",
    warnings,
  };
}
