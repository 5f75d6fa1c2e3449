/**
 * The reliability level of a zone (DESIGN.md) and the warnings a person should act on,
 * in plain words, computed from zone-wide facts alone (each device's signed facts, the
 * members, presence), so that every device gives the same answer. Revoked and
 * quarantined devices do not count.
 *
 *   0  some device's data is in no backup outside the zone
 *   1  every device's data is backed up outside the zone
 *   2  and the zone state is on two or more devices
 *   3  and every app's data is on two devices, and every backup was verified lately
 */

import type { TargetFacts } from "../facts/payload.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { formatBytes } from "../units.ts";

/** A backup older than this is worth a warning. */
export const STALE_BACKUP_MS = 24 * 60 * 60 * 1000;
/** A verify older than this no longer counts as verified. */
export const STALE_VERIFY_MS = 7 * STALE_BACKUP_MS;
/** A device not heard from for this long is worth a word: is it gone for good? */
export const LONG_ABSENCE_MS = 7 * STALE_BACKUP_MS;
/** A standby whose copy is further behind than this is worth a warning (and is no second copy). */
export const STANDBY_LAG_LIMIT_MS = 60_000;
/** A certificate that expires sooner than this is worth a warning (it renews well before). */
export const CERTIFICATE_WARNING_MS = 14 * STALE_BACKUP_MS;
/** A backup that takes this share of the time between backups barely keeps up. */
const OUTPACED_SHARE = 0.8;
/** A disk with less free than this share of it, or than NEARLY_FULL_BYTES, is nearly full. */
export const NEARLY_FULL_SHARE = 0.1;
export const NEARLY_FULL_BYTES = 1024 ** 3;
/** How many of the largest users of a full disk a warning names. */
const NAMED_USERS = 3;

/** An app's data and the devices holding a copy of it (replication). */
export interface AppDataCopies {
  readonly app: string;
  /** The device whose copy is current, or null when none holds it. */
  readonly holder: string | null;
  /** Standby copies, each with how far behind the holder's it is. */
  readonly standbys: readonly { readonly device: string; readonly lagMs: number | null }[];
  /** Beyond this lag a standby's copy no longer counts as a second copy. */
  readonly maxLagMs: number;
  /** How many copies its manifest asks for besides the holder's. */
  readonly wanted: number;
}

export interface ReliabilityInput {
  readonly devices: readonly DeviceStanding[];
  readonly nowMs: number;
  readonly appData?: readonly AppDataCopies[];
}

export interface Reliability {
  readonly level: 0 | 1 | 2 | 3;
  readonly summary: string;
  readonly warnings: readonly string[];
}

export function assessReliability(input: ReliabilityInput): Reliability {
  const devices = input.devices.filter((device) => device.standing === "member");
  const warnings: string[] = [];
  const backups = devices.map((device) => ({ device, ...backupsOf(device, input.nowMs) }));

  const unprotected = backups.filter((b) => b.lastBackupAtMs === undefined);
  for (const { device } of unprotected)
    warnings.push(
      `${device.name}'s data is in no backup outside the zone yet: ${notYetWhy(device)}`,
    );
  for (const b of backups) {
    for (const { target, message } of b.failing)
      warnings.push(`the last backup of ${b.device.name} to ${target} failed: ${message}`);
    for (const target of b.behind)
      warnings.push(
        `backups of ${b.device.name} to ${target} cannot keep up: data is written faster than it uploads`,
      );
    for (const { target, changedPerHour, shippedPerHour } of b.outpaced)
      warnings.push(
        `writes are outpacing backups on ${b.device.name}: about ${formatBytes(changedPerHour)} changes an hour, and its backups to ${target} take in about ${formatBytes(shippedPerHour)} an hour`,
      );
    if (b.lastBackupAtMs !== undefined && input.nowMs - b.lastBackupAtMs > STALE_BACKUP_MS)
      warnings.push(
        `the last backup of ${b.device.name} is ${Math.floor((input.nowMs - b.lastBackupAtMs) / 3_600_000)} hours old`,
      );
    if (b.lastBackupAtMs === undefined) continue;
    if (!b.lastVerify)
      warnings.push(
        `the backups of ${b.device.name} have never been verified: run \`bucky backup verify --read-data\` there`,
      );
    else if (!b.lastVerify.ok)
      warnings.push(
        `the last verify of ${b.device.name}'s backups to ${b.lastVerify.target} found damage: run \`bucky backup verify\` there to see what`,
      );
    else if (input.nowMs - b.lastVerify.atMs > STALE_VERIFY_MS)
      warnings.push(`the backups of ${b.device.name} have not been verified for over a week`);
  }
  const singleCopies: string[] = [];
  for (const data of input.appData ?? []) {
    const current = data.standbys.filter((s) => s.lagMs !== null && s.lagMs <= data.maxLagMs);
    for (const standby of data.standbys.filter((s) => !current.includes(s)))
      warnings.push(
        standby.lagMs === null
          ? `${standby.device} has no copy of ${data.app}'s data yet`
          : `${standby.device}'s copy of ${data.app}'s data is ${Math.round(standby.lagMs / 1000)} s behind`,
      );
    if (data.holder !== null && data.standbys.length === 0)
      warnings.push(
        data.wanted === 0
          ? `${data.app}'s data is on ${data.holder} only: its manifest asks for no copy`
          : `${data.app}'s data is on ${data.holder} only: no other device is live to keep a copy`,
      );
    if (data.holder === null || current.length === 0) singleCopies.push(data.app);
  }
  for (const device of devices)
    for (const [name, cert] of Object.entries(device.facts.certificates ?? {})) {
      const why = cert.lastError ? `: ${cert.lastError.message}` : "";
      const expiresMs = cert.notAfter ? Date.parse(cert.notAfter) : undefined;
      if (expiresMs === undefined) {
        if (cert.lastError)
          warnings.push(`${device.name} has no certificate for ${name} yet${why}`);
      } else if (expiresMs <= input.nowMs) {
        warnings.push(`the certificate for ${name} on ${device.name} has expired${why}`);
      } else if (expiresMs - input.nowMs < CERTIFICATE_WARNING_MS) {
        const days = Math.floor((expiresMs - input.nowMs) / STALE_BACKUP_MS);
        warnings.push(
          `the certificate for ${name} on ${device.name} expires in under 14 days (${days === 0 ? "today" : `in ${days} day${days === 1 ? "" : "s"}`})${cert.lastError ? `: renewing failed${why}` : ""}`,
        );
      }
    }
  for (const device of devices) warnings.push(...diskWarnings(device));
  for (const device of devices) {
    const absentMs = device.heardAliveAt === null ? null : input.nowMs - device.heardAliveAt;
    if (absentMs !== null && absentMs > LONG_ABSENCE_MS)
      warnings.push(
        `${device.name} has not been seen for ${Math.floor(absentMs / STALE_BACKUP_MS)} days: if it is gone for good, \`bucky devices revoke ${device.name}\``,
      );
  }

  if (unprotected.length > 0) {
    return {
      level: 0,
      summary:
        unprotected.length === devices.length
          ? devices.length === 1
            ? "one device, no backup: data may be lost at any time"
            : "no backup outside the zone: data may be lost at any time"
          : `not every device is backed up: what only ${unprotected.map((b) => b.device.name).join(", ")} hold${unprotected.length === 1 ? "s" : ""} may be lost at any time`,
      warnings,
    };
  }
  if (devices.length < 2) {
    return {
      level: 1,
      summary: "backed up outside the zone: safe up to the last backup",
      warnings,
    };
  }
  const allVerified = backups.every(
    (b) => b.lastVerify?.ok === true && input.nowMs - b.lastVerify.atMs <= STALE_VERIFY_MS,
  );
  if (singleCopies.length === 0 && allVerified) {
    return {
      level: 3,
      summary:
        "every app's data is on two devices and the backups are verified: high availability, high reliability",
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

interface DeviceBackups {
  lastBackupAtMs?: number;
  lastVerify?: { atMs: number; ok: boolean; target: string };
  failing: { target: string; message: string }[];
  behind: string[];
  outpaced: { target: string; changedPerHour: number; shippedPerHour: number }[];
}

function backupsOf(device: DeviceStanding, nowMs: number): DeviceBackups {
  const result: DeviceBackups = { failing: [], behind: [], outpaced: [] };
  const targets: Record<string, TargetFacts> = device.facts.backup?.targets ?? {};
  for (const [target, status] of Object.entries(targets)) {
    const backupAt = status.lastBackup ? Date.parse(status.lastBackup.at) : undefined;
    if (backupAt !== undefined && !(backupAt <= (result.lastBackupAtMs ?? -1)))
      result.lastBackupAtMs = backupAt;
    const errorAt = status.lastBackupError ? Date.parse(status.lastBackupError.at) : undefined;
    if (
      status.lastBackupError &&
      errorAt !== undefined &&
      (backupAt === undefined || errorAt > backupAt)
    )
      result.failing.push({ target, message: status.lastBackupError.message });
    if (status.lastVerify) {
      const atMs = Date.parse(status.lastVerify.at);
      if (!result.lastVerify || atMs > result.lastVerify.atMs)
        result.lastVerify = { atMs, ok: status.lastVerify.ok, target };
    }
    if (status.behindSince) result.behind.push(target);
    const run = status.lastBackup;
    if (
      run?.changedBytes &&
      run.sinceMs &&
      run.durationMs > 0 &&
      nowMs - Date.parse(run.at) < STALE_BACKUP_MS
    ) {
      const changedPerHour = (run.changedBytes * 3_600_000) / run.sinceMs;
      const shippedPerHour = (run.changedBytes * 3_600_000) / run.durationMs;
      if (changedPerHour > OUTPACED_SHARE * shippedPerHour)
        result.outpaced.push({ target, changedPerHour, shippedPerHour });
    }
  }
  return result;
}

/** Why a device has no backup yet, and what to do, from what the zone knows. */
function notYetWhy(device: DeviceStanding): string {
  if (device.factsAt === null) return "it has not reported on its backups yet";
  if (!device.facts.backup?.key)
    return `it has no backup key: type the recovery phrase into \`bucky backup key\` on ${device.name}`;
  if (Object.keys(device.facts.backup.targets).length === 0)
    return `add a target with \`bucky backup target add\` on ${device.name}`;
  return "its first backup has not finished";
}

/**
 * A device whose disk is nearly full, with where its space goes and what can be removed
 * (leftovers first), from what it says of itself.
 */
export function diskWarnings(device: DeviceStanding): string[] {
  const disk = device.facts.disk;
  if (!disk || disk.totalBytes === 0) return [];
  const nearlyFull =
    disk.freeBytes < NEARLY_FULL_SHARE * disk.totalBytes || disk.freeBytes < NEARLY_FULL_BYTES;
  if (!nearlyFull) return [];
  const usage = device.facts.usage;
  const users: { what: string; bytes: number }[] = usage
    ? [
        { what: "its zone state", bytes: usage.state.bytes },
        { what: "named data", bytes: usage.namedData.bytes },
        { what: "logs", bytes: usage.logsBytes },
        { what: "backup caches", bytes: usage.backupCacheBytes },
        ...Object.entries(usage.apps).flatMap(([app, used]) => [
          { what: `${app}'s data`, bytes: used.dataBytes + used.replicaBytes },
          { what: `${app}'s conflict copies`, bytes: used.conflictsBytes },
        ]),
      ]
    : [];
  const largest = users
    .filter((user) => user.bytes > 0)
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, NAMED_USERS)
    .map((user) => `${user.what} ${formatBytes(user.bytes)}`);
  const leftovers = (usage?.leftovers ?? [])
    .filter((leftover) => leftover.bytes > 0)
    .slice(0, NAMED_USERS)
    .map((leftover) => `${leftover.what} (${formatBytes(leftover.bytes)}): ${leftover.remove}`);
  return [
    `${device.name}'s disk is nearly full: ${formatBytes(disk.freeBytes)} free of ${formatBytes(disk.totalBytes)}` +
      (largest.length > 0 ? `; the most space goes to ${largest.join(", ")}` : "") +
      (leftovers.length > 0
        ? `; can be removed: ${leftovers.join("; ")}`
        : "; see `bucky status --disk` there"),
  ];
}
