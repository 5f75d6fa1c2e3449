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

import type { DamageRecord } from "../../protocol/backup/damage-record.ts";
import { checkAppName } from "../../protocol/names.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { TargetFacts, UsageFacts } from "../facts/payload.ts";
import { givenTime, quoted, saidBy } from "../facts/said-by.ts";
import type { DeviceStanding } from "../facts/zone-facts.ts";
import { listInSentence } from "../sentence.ts";
import { formatBytes } from "../units.ts";

/** A backup older than this is worth a warning. */
export const STALE_BACKUP_MS = 24 * 60 * 60 * 1000;
/** A verify older than this no longer counts as verified. */
export const STALE_VERIFY_MS = 7 * STALE_BACKUP_MS;
/**
 * Prunes failing this long are said: a prune runs every day and, failed, again an hour
 * later; one the backups' locks kept off (it gives way to them) runs at the next try.
 */
export const PRUNE_FAILING_MS = STALE_BACKUP_MS;
/** Hot changes failing this long are said (they go within seconds, and retry as often). */
export const HOT_FAILING_MS = 10 * 60_000;
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
  /**
   * The device this is assessed on, when its usage in `devices` was measured here now (not
   * read from a record it could have been sent): only its leftovers say how to remove them.
   */
  readonly measuredHere?: string;
  /** The damage verifies found, as the zone records it for each device to store again. */
  readonly damage?: readonly DamageRecord[];
  /**
   * The zone's backup targets, by name: a device that says none of them has not backed up
   * there yet (its first backup is to come), not a zone without a target.
   */
  readonly targets?: readonly string[];
  /** The devices the zone has as gateways, by name. */
  readonly gateways?: readonly string[];
}

/**
 * What needs a person's attention, as data: the CLI says it in English (`warnings`), the
 * panel in the viewer's language, each from the same fields.
 */
/** One device's word that another's clock is ahead of its own: its figure, under its name. */
export interface ClockAheadFigure {
  /** The device that says it (and refuses the other). */
  readonly by: string;
  readonly seconds: number;
  /** When it started refusing the other, as it says (RFC 3339). */
  readonly since: string;
}

export type ReliabilityNote =
  | { readonly kind: "no-backup"; readonly device: string; readonly why: NoBackupWhy }
  | {
      readonly kind: "backup-failed";
      readonly device: string;
      readonly target: string;
      readonly message: string;
    }
  | { readonly kind: "cannot-keep-up"; readonly device: string; readonly target: string }
  | {
      readonly kind: "outpaced";
      readonly device: string;
      readonly target: string;
      readonly changedPerHour: number;
      readonly shippedPerHour: number;
    }
  | { readonly kind: "stale-backup"; readonly device: string; readonly hours: number }
  | {
      /** The last backup to `target` holds `count` files as last read: they kept changing. */
      readonly kind: "backup-changing";
      readonly device: string;
      readonly target: string;
      readonly count: number;
    }
  | {
      /** The last backup to `target` left out `count` entries: their names are not UTF-8. */
      readonly kind: "backup-left-out";
      readonly device: string;
      readonly target: string;
      readonly count: number;
    }
  | {
      /**
       * `device`, which reaches `target` and alone prunes it, has failed to since `since`
       * (`days` days): what backups let go stays, and the target grows.
       */
      readonly kind: "prune-failing";
      readonly device: string;
      readonly target: string;
      readonly days: number;
      readonly message: string;
    }
  | {
      /**
       * `device`'s hot changes have failed to reach `target` since `since`, while its
       * backups there do not fail: a restore lacks what changed since the last backup.
       */
      readonly kind: "hot-failing";
      readonly device: string;
      readonly target: string;
      readonly since: string;
      readonly message: string;
    }
  | { readonly kind: "never-verified"; readonly device: string }
  | { readonly kind: "damaged"; readonly device: string; readonly target: string }
  | {
      /**
       * A verify by `foundBy` found blobs that `device`'s snapshots need damaged in
       * `target` (the zone's record of it): its next backup stores them again.
       */
      readonly kind: "damage-to-store";
      readonly device: string;
      readonly target: string;
      readonly blobs: number;
      readonly foundBy: string;
    }
  | {
      readonly kind: "forged-snapshots";
      readonly device: string;
      readonly target: string;
      readonly count: number;
    }
  | {
      readonly kind: "forged-index";
      readonly device: string;
      readonly target: string;
      readonly count: number;
    }
  | { readonly kind: "stale-verify"; readonly device: string }
  | { readonly kind: "no-copy-yet"; readonly device: string; readonly app: string }
  | {
      readonly kind: "copy-behind";
      readonly device: string;
      readonly app: string;
      readonly seconds: number;
    }
  | {
      readonly kind: "single-copy";
      readonly app: string;
      readonly device: string;
      readonly wanted: boolean;
    }
  | {
      readonly kind: "absent";
      readonly device: string;
      readonly days: number;
      /**
       * The devices that say its clock is ahead (their facts, which a member writes as it
       * likes): it may be up with its changes refused. Said beside the absence, never in
       * its place, so no device's word hides another's absence.
       */
      readonly aheadBy?: readonly string[];
    }
  | {
      /**
       * `by` refuse the changesets, presence and facts of `device` because its clock is
       * ahead of theirs (as their facts say): it looks offline to the zone. Each one's
       * figure is its own word, under its own name (`figures`, in the order of `by`).
       */
      readonly kind: "clock-ahead";
      readonly device: string;
      readonly by: readonly string[];
      readonly figures: readonly ClockAheadFigure[];
    }
  | CertificateNote
  | {
      /**
       * The gateway `device` is to run does not serve, since `since` (RFC 3339): why is its
       * own words. It tries again by itself every few seconds.
       */
      readonly kind: "gateway-down";
      readonly device: string;
      readonly message: string;
      readonly since: string;
    }
  | {
      /**
       * Every gateway of the zone (`devices`, by name) is offline: nothing reaches the
       * zone's apps or panel, and the links made wait for them.
       */
      readonly kind: "gateways-offline";
      readonly devices: readonly string[];
    }
  | {
      /**
       * The daemon of `device` stopped at `at`, and will not start again until repaired
       * there: its zone state was altered behind bucky's back (`message`: its own words).
       * Its last facts say so (lib/node/last-word.ts); said until its facts say otherwise.
       */
      readonly kind: "stopped";
      readonly device: string;
      readonly reason: "state-altered";
      readonly message: string;
      readonly at: string;
    }
  | {
      /** A gateway with more names than it keeps certificates for: these have none. */
      readonly kind: "certificates-left-out";
      readonly device: string;
      readonly count: number;
      /** The first of them. */
      readonly names: readonly string[];
    }
  | {
      /** `peer` refuses the sync requests of `device`, as `device` says: the two do not sync directly. */
      readonly kind: "sync-refused";
      readonly device: string;
      readonly peer: string;
      readonly code: string;
      /** The refusal as `device` took it: its words. */
      readonly message: string;
      readonly since: string;
    }
  | {
      readonly kind: "disk-nearly-full";
      readonly device: string;
      readonly freeBytes: number;
      readonly totalBytes: number;
      /** The largest users of its space, largest first. */
      readonly largest: readonly { readonly what: string; readonly bytes: number }[];
      /**
       * What nothing uses any more, as the device says it; how to remove it only for the
       * device it was measured on (ReliabilityInput.measuredHere): another device's command
       * is its own words, and could be any command.
       */
      readonly leftovers: readonly {
        readonly what: string;
        readonly bytes: number;
        readonly remove?: string;
      }[];
    };

/** A gateway's certificate that is missing, expired or about to: with why it did not renew. */
export type CertificateNote = {
  readonly device: string;
  readonly name: string;
  /** The last error getting it, if the last try failed. */
  readonly error?: string;
} & (
  | { readonly kind: "certificate-missing" }
  | { readonly kind: "certificate-expired" }
  | { readonly kind: "certificate-expiring"; readonly days: number }
);

/** Why a device has no backup yet: what the zone knows, and so what to do. */
export type NoBackupWhy = "not-reported" | "no-key" | "no-target" | "first-running";

/** What the level means, as data (the summary says it in English). */
export type ReliabilityMeaning =
  | "one-device-no-backup"
  | "no-backup"
  | "partly-backed-up"
  | "backed-up"
  | "two-devices"
  | "high";

export interface Reliability {
  readonly level: 0 | 1 | 2 | 3;
  readonly summary: string;
  readonly meaning: ReliabilityMeaning;
  /** For `partly-backed-up`: the devices whose data is in no backup. */
  readonly unprotected: readonly string[];
  readonly warnings: readonly string[];
  readonly notes: readonly ReliabilityNote[];
}

export function assessReliability(input: ReliabilityInput): Reliability {
  const devices = input.devices.filter((device) => device.standing === "member");
  const notes: ReliabilityNote[] = [];
  const backups = devices.map((device) => ({ device, ...backupsOf(device, input.nowMs) }));

  const unprotected = backups.filter((b) => b.lastBackupAtMs === undefined);
  for (const { device } of unprotected)
    notes.push({
      kind: "no-backup",
      device: device.name,
      why: notYetWhy(device, input.targets ?? []),
    });
  for (const b of backups) {
    const device = b.device.name;
    for (const { target, message } of b.failing)
      notes.push({ kind: "backup-failed", device, target, message });
    for (const target of b.behind) notes.push({ kind: "cannot-keep-up", device, target });
    for (const failing of b.pruneFailing) notes.push({ kind: "prune-failing", device, ...failing });
    for (const failing of b.hotFailing) notes.push({ kind: "hot-failing", device, ...failing });
    for (const outpaced of b.outpaced) notes.push({ kind: "outpaced", device, ...outpaced });
    for (const { target, changing, leftOut } of b.incomplete) {
      if (changing > 0) notes.push({ kind: "backup-changing", device, target, count: changing });
      if (leftOut > 0) notes.push({ kind: "backup-left-out", device, target, count: leftOut });
    }
    if (b.lastBackupAtMs !== undefined && input.nowMs - b.lastBackupAtMs > STALE_BACKUP_MS)
      notes.push({
        kind: "stale-backup",
        device,
        hours: Math.floor((input.nowMs - b.lastBackupAtMs) / 3_600_000),
      });
    if (b.lastBackupAtMs === undefined) continue;
    if (!b.lastVerify) notes.push({ kind: "never-verified", device });
    else if (!b.lastVerify.ok) {
      const { target, forged, forgedIndex, damaged } = b.lastVerify;
      // A verify that found only forged files found nothing damaged: said as what it is.
      if (forged > 0) notes.push({ kind: "forged-snapshots", device, target, count: forged });
      if (forgedIndex > 0) notes.push({ kind: "forged-index", device, target, count: forgedIndex });
      if ((forged === 0 && forgedIndex === 0) || damaged > 0)
        notes.push({ kind: "damaged", device, target });
    } else if (input.nowMs - b.lastVerify.atMs > STALE_VERIFY_MS)
      notes.push({ kind: "stale-verify", device });
  }
  const members = new Set(devices.map((device) => device.name));
  for (const record of input.damage ?? [])
    if (members.has(record.device))
      notes.push({
        kind: "damage-to-store",
        device: record.device,
        target: record.target,
        blobs: record.blobs.length,
        foundBy: record.foundBy,
      });
  const singleCopies: string[] = [];
  for (const data of input.appData ?? []) {
    const current = data.standbys.filter((s) => s.lagMs !== null && s.lagMs <= data.maxLagMs);
    for (const standby of data.standbys.filter((s) => !current.includes(s)))
      notes.push(
        standby.lagMs === null
          ? { kind: "no-copy-yet", device: standby.device, app: data.app }
          : {
              kind: "copy-behind",
              device: standby.device,
              app: data.app,
              seconds: Math.round(standby.lagMs / 1000),
            },
      );
    if (data.holder !== null && data.standbys.length === 0)
      notes.push({
        kind: "single-copy",
        app: data.app,
        device: data.holder,
        wanted: data.wanted > 0,
      });
    if (data.holder === null || current.length === 0) singleCopies.push(data.app);
  }
  for (const device of devices) notes.push(...certificateNotes(device, input.nowMs));
  for (const device of devices) {
    const left = device.facts.certificatesLeftOut;
    if (left) notes.push({ kind: "certificates-left-out", device: device.name, ...left });
    const down = device.facts.gatewayDown;
    if (down) notes.push({ kind: "gateway-down", device: device.name, ...down });
  }
  const gateways = devices.filter(
    (device) => device.standing === "member" && input.gateways?.includes(device.name),
  );
  if (gateways.length > 0 && gateways.every((device) => !device.live))
    notes.push({ kind: "gateways-offline", devices: gateways.map((device) => device.name) });
  // Said while its newest facts say it: started again, its first facts say it no more. (Not
  // weighed against when it was heard alive: that is another device's clock than its `at`.)
  const stopped = new Set<string>();
  for (const device of devices) {
    const said = device.facts.stopped;
    if (!said) continue;
    stopped.add(device.name);
    notes.push({ kind: "stopped", device: device.name, ...said });
  }
  const ahead = clockAheadNotes(devices);
  const aheadBy = (name: string) => ahead.find((note) => note.device === name)?.by;
  for (const device of devices)
    for (const [peer, refused] of Object.entries(device.facts.syncRefused ?? {})) {
      // Refused for the clocks of the two, which one of the two says of the other already:
      // the same news. A third device's word about either hides nothing.
      if (
        refused.code === "E_CLOCK" &&
        (aheadBy(peer)?.includes(device.name) || aheadBy(device.name)?.includes(peer))
      )
        continue;
      notes.push({ kind: "sync-refused", device: device.name, peer, ...refused });
    }
  for (const device of devices) {
    const disk = diskNote(device, device.name === input.measuredHere);
    if (disk) notes.push(disk);
  }
  notes.push(...ahead);
  for (const device of devices) {
    const absentMs = device.heardAliveAt === null ? null : input.nowMs - device.heardAliveAt;
    // One only ahead is not gone, and revoking it would be the wrong advice; but that it is
    // ahead is other devices' word, so the absence is said with whose word it is.
    const said = aheadBy(device.name);
    // One that said why it stopped is not gone: what to do is in that note, not a revoke.
    if (absentMs !== null && absentMs > LONG_ABSENCE_MS && !stopped.has(device.name))
      notes.push({
        kind: "absent",
        device: device.name,
        days: Math.floor(absentMs / STALE_BACKUP_MS),
        ...(said ? { aheadBy: said } : {}),
      });
  }
  const assessed = (level: Reliability["level"], meaning: ReliabilityMeaning) => {
    const names = meaning === "partly-backed-up" ? unprotected.map((b) => b.device.name) : [];
    return {
      level,
      meaning,
      unprotected: names,
      summary: summaryOf(meaning, names),
      notes,
      warnings: notes.map(describeNote),
    };
  };
  if (unprotected.length > 0) {
    return assessed(
      0,
      unprotected.length === devices.length
        ? devices.length === 1
          ? "one-device-no-backup"
          : "no-backup"
        : "partly-backed-up",
    );
  }
  if (devices.length < 2) return assessed(1, "backed-up");
  const allVerified = backups.every(
    (b) => b.lastVerify?.ok === true && input.nowMs - b.lastVerify.atMs <= STALE_VERIFY_MS,
  );
  if (singleCopies.length === 0 && allVerified) return assessed(3, "high");
  return assessed(2, "two-devices");
}

function summaryOf(meaning: ReliabilityMeaning, unprotected: readonly string[]): string {
  switch (meaning) {
    case "one-device-no-backup":
      return "one device, no backup: data may be lost at any time";
    case "no-backup":
      return "no backup outside the zone: data may be lost at any time";
    case "partly-backed-up":
      return `not every device is backed up: what only ${unprotected.join(", ")} hold${unprotected.length === 1 ? "s" : ""} may be lost at any time`;
    case "backed-up":
      return "backed up outside the zone: safe up to the last backup";
    case "high":
      return "every app's data is on two devices and the backups are verified: high availability, high reliability";
    case "two-devices":
      return "backed up, and the zone state is on two or more devices: reads stay available when one fails";
  }
}

/** A note in English, as the CLI and `bucky status --json` say it. */
export function describeNote(note: ReliabilityNote): string {
  switch (note.kind) {
    case "no-backup":
      return `${note.device}'s data is in no backup outside the zone yet: ${whyText(note.why, note.device)}`;
    case "backup-failed":
      // The error is the device's own words (its facts), quoted: no advice of the zone's.
      return `the last backup of ${note.device} to ${note.target} failed: ${saidBy(note.device, note.message)}`;
    case "cannot-keep-up":
      return `backups of ${note.device} to ${note.target} cannot keep up: data is written faster than it uploads`;
    case "outpaced":
      return `writes are outpacing backups on ${note.device}: about ${formatBytes(note.changedPerHour)} changes an hour, and its backups to ${note.target} take in about ${formatBytes(note.shippedPerHour)} an hour`;
    case "stale-backup":
      return `the last backup of ${note.device} is ${note.hours} hours old`;
    case "backup-changing":
      return `${note.count === 1 ? "a file" : `${note.count} files`} kept changing while the last backup of ${note.device} to ${note.target} read ${note.count === 1 ? "it" : "them"}: backed up as last read, ${note.count === 1 ? "it" : "they"} may hold a change part way; \`bucky backup run --json\` on ${note.device} says which (\`changing\`)`;
    case "backup-left-out":
      return `the last backup of ${note.device} to ${note.target} left out ${note.count === 1 ? "a file" : `${note.count} files`}: ${note.count === 1 ? "its name is" : "their names are"} not UTF-8; \`bucky backup run --json\` on ${note.device} says which (\`leftOut\`); renamed, ${note.count === 1 ? "it is" : "they are"} backed up`;
    case "prune-failing":
      // The error is the device's own words (its facts), quoted: no advice of the zone's.
      return `${note.device} has failed to prune ${note.target} for ${note.days === 1 ? "a day" : `${note.days} days`} (what backups let go stays, and ${note.target} grows): ${saidBy(note.device, note.message)}`;
    case "hot-failing":
      // The error is the device's own words (its facts), quoted: no advice of the zone's.
      return `the changes of ${note.device} have not reached ${note.target} within seconds since ${givenTime(note.since)}, though its backups there work: a restore holds them only up to its last backup; ${saidBy(note.device, note.message)}`;
    case "never-verified":
      return `the backups of ${note.device} have never been verified: run \`bucky backup verify --read-data\` there`;
    case "damaged":
      return `the last verify of ${note.device}'s backups to ${note.target} found damage: run \`bucky backup verify\` there to see what`;
    case "damage-to-store":
      return `a verify on ${note.foundBy} found ${note.blobs === 1 ? "a blob" : `${note.blobs} blobs`} of ${note.device}'s backups to ${note.target} damaged: ${note.device}'s next backup stores ${note.blobs === 1 ? "it" : "them"} again (\`bucky backup run\` there does it now)`;
    case "forged-snapshots":
      return `the last verify of ${note.device}'s backups to ${note.target} found ${note.count === 1 ? "a snapshot" : `${note.count} snapshots`} filed in a device's name by someone else holding the backup key (restores leave them out): run \`bucky backup verify\` there to see which, and revoke the device that wrote them`;
    case "forged-index":
      return `the last verify of ${note.device}'s backups to ${note.target} found ${note.count === 1 ? "an index file" : `${note.count} index files`} no device of the zone signed, written by someone holding the backup key (left out; the next prune deletes ${note.count === 1 ? "it" : "them"}): run \`bucky backup verify\` there to see who signed ${note.count === 1 ? "it" : "them"}`;
    case "stale-verify":
      return `the backups of ${note.device} have not been verified for over a week`;
    case "no-copy-yet":
      return `${note.device} has no copy of ${note.app}'s data yet`;
    case "copy-behind":
      return `${note.device}'s copy of ${note.app}'s data is ${note.seconds} s behind`;
    case "single-copy":
      return note.wanted
        ? `${note.app}'s data is on ${note.device} only: no other device is live to keep a copy`
        : `${note.app}'s data is on ${note.device} only: its manifest asks for no copy`;
    case "clock-ahead":
      return `${note.device}'s clock is ${aheadText(note.figures)}: its changes are refused until it is set right, so it looks offline to the zone; turn on network time on ${note.device} (\`timedatectl set-ntp true\`), or, if its clock is right, on ${listInSentence(note.by)}`;
    case "absent":
      return note.aheadBy
        ? `${note.device} has not been seen for ${note.days} days, but ${listInSentence(note.aheadBy)} say${note.aheadBy.length === 1 ? "s" : ""} its clock is ahead, so it may be up with its changes refused: set its clock right first; if it is gone for good, \`bucky devices revoke ${note.device}\``
        : `${note.device} has not been seen for ${note.days} days: if it is gone for good, \`bucky devices revoke ${note.device}\``;
    // The error is the gateway's own words (its facts, which a member writes as it likes):
    // said to be its words, quoted, so it reads as no advice of the zone's.
    case "certificate-missing":
      return `${note.device} has no certificate for ${note.name} yet${note.error ? `: ${saidBy(note.device, note.error)}` : ""}`;
    case "certificate-expired":
      return `the certificate for ${note.name} on ${note.device} has expired${note.error ? `: ${saidBy(note.device, note.error)}` : ""}`;
    case "certificate-expiring":
      return `the certificate for ${note.name} on ${note.device} expires in under 14 days (${note.days === 0 ? "today" : `in ${note.days} day${note.days === 1 ? "" : "s"}`})${note.error ? `: renewing failed, ${saidBy(note.device, note.error)}` : ""}`;
    case "gateway-down":
      return `the gateway on ${note.device} does not serve since ${givenTime(note.since)}, so nothing reaches the zone's apps through it: ${saidBy(note.device, note.message)}; ${note.device} tries again every few seconds (free what it needs, or move it with \`bucky gateway enable --listen\` there)`;
    case "gateways-offline":
      return `${note.devices.length === 1 ? `the zone's only gateway, ${note.devices[0]}, is` : `every gateway of the zone (${listInSentence(note.devices)}) is`} offline: nothing reaches the zone's apps or panel, and links made now wait for ${note.devices.length === 1 ? "it" : "them"}; bring ${note.devices.length === 1 ? "it" : "one"} back, or make another device a gateway (\`bucky gateway enable\`)`;
    case "stopped":
      return `${note.device} stopped on ${givenTime(note.at)} and will not start again until it is repaired: its zone state was altered behind bucky's back (${saidBy(note.device, note.message)}); on ${note.device}, run \`bucky state repair\`, then \`bucky up\``;
    case "certificates-left-out":
      return `${note.device}'s gateway keeps certificates for 100 names at most: ${note.count} more have none of their own (${note.names.join(", ")}${note.count > note.names.length ? ", …" : ""}) and browsers warn on them; remove apps it need not serve, or give it a certificate of your own for them all (\`bucky gateway enable --tls-cert F --tls-key F\`)`;
    // The refusal is the device's own words (its facts), quoted.
    case "sync-refused":
      return `${note.peer} refuses ${note.device}'s sync requests (${note.code}) since ${givenTime(note.since)}, so the two do not sync directly: ${saidBy(note.device, note.message)}; ${
        note.code === "E_PERMISSION"
          ? `if ${note.device} joined lately, this ends once ${note.peer} syncs with a device that knows it; otherwise check that both are still members (\`bucky devices\`)`
          : note.code === "E_CLOCK"
            ? `their clocks are over 5 minutes apart: turn on network time (\`timedatectl set-ntp true\`) on whichever of ${note.device} and ${note.peer} is wrong`
            : "update both to the same bucky (`bucky --version` on each)"
      }`;
    case "disk-nearly-full": {
      const largest = note.largest.map((user) => `${user.what} ${formatBytes(user.bytes)}`);
      return (
        `${note.device}'s disk is nearly full: ${formatBytes(note.freeBytes)} free of ${formatBytes(note.totalBytes)}` +
        (largest.length > 0 ? `; the most space goes to ${largest.join(", ")}` : "") +
        leftoversText(note.device, note.leftovers)
      );
    }
  }
}

/**
 * A full disk's leftovers: with the commands that remove them when measured here, else as
 * the device's words, and what to do in the zone's (`bucky status --disk` there, which
 * measures them on that device and says how).
 */
function leftoversText(
  device: string,
  leftovers: Extract<ReliabilityNote, { kind: "disk-nearly-full" }>["leftovers"],
): string {
  if (leftovers.length === 0) return "; see `bucky status --disk` there";
  if (leftovers.every((leftover) => leftover.remove !== undefined))
    return `; can be removed: ${leftovers
      .map((leftover) => `${leftover.what} (${formatBytes(leftover.bytes)}): ${leftover.remove}`)
      .join("; ")}`;
  const said = leftovers.map(
    (leftover) => `${quoted(leftover.what)} (${formatBytes(leftover.bytes)})`,
  );
  return `; ${device} says it has leftovers: ${said.join(", ")}; to remove them, run \`bucky status --disk\` on ${device}`;
}

/**
 * The members that other members refuse for their clock, each once, with each refusing
 * device's own figure under its name: how far ahead of its clock, since when. One member's
 * numbers are never put under another's name (any member writes its facts as it likes).
 * `bucky devices` says the same. Only a device heard alive says it now: the last facts of
 * one gone quiet would name the other device for good (its claims clear only when it
 * publishes again).
 */
export function clockAheadNotes(
  devices: readonly DeviceStanding[],
): Extract<ReliabilityNote, { kind: "clock-ahead" }>[] {
  const members = new Set(devices.map((device) => device.name));
  const ahead = new Map<string, ClockAheadFigure[]>();
  for (const device of devices)
    for (const [name, said] of Object.entries(device.live ? (device.facts.clockAhead ?? {}) : {})) {
      if (!members.has(name) || name === device.name) continue;
      const figure = {
        by: device.name,
        seconds: Math.round(said.aheadMs / 1000),
        since: said.since,
      };
      const held = ahead.get(name);
      if (held) held.push(figure);
      else ahead.set(name, [figure]);
    }
  return [...ahead]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([device, figures]) => {
      const sorted = figures.sort((a, b) => compareCodeUnits(a.by, b.by));
      return { kind: "clock-ahead", device, by: sorted.map((f) => f.by), figures: sorted };
    });
}

/** "125 s ahead of nas's and 118 s ahead of phone's": each figure under its own name. */
function aheadText(figures: readonly ClockAheadFigure[]): string {
  return listInSentence(figures.map((figure) => `${figure.seconds} s ahead of ${figure.by}'s`));
}

function whyText(why: NoBackupWhy, device: string): string {
  switch (why) {
    case "not-reported":
      return "it has not reported on its backups yet";
    case "no-key":
      return `it has no backup key: type the recovery phrase into \`bucky backup key\` on ${device}`;
    case "no-target":
      return `add a target with \`bucky backup target add\` on ${device}`;
    case "first-running":
      return "its first backup has not finished";
  }
}

interface DeviceBackups {
  lastBackupAtMs?: number;
  lastVerify?: {
    atMs: number;
    ok: boolean;
    target: string;
    damaged: number;
    forged: number;
    forgedIndex: number;
  };
  failing: { target: string; message: string }[];
  behind: string[];
  outpaced: { target: string; changedPerHour: number; shippedPerHour: number }[];
  /** The targets whose last backup holds files as last read, or left some out. */
  incomplete: { target: string; changing: number; leftOut: number }[];
  /** The targets it reaches whose prunes have failed for PRUNE_FAILING_MS or more. */
  pruneFailing: { target: string; days: number; message: string }[];
  /** The targets its hot changes have failed to reach for HOT_FAILING_MS or more. */
  hotFailing: { target: string; since: string; message: string }[];
}

function backupsOf(device: DeviceStanding, nowMs: number): DeviceBackups {
  const result: DeviceBackups = {
    failing: [],
    behind: [],
    outpaced: [],
    incomplete: [],
    pruneFailing: [],
    hotFailing: [],
  };
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
        result.lastVerify = {
          atMs,
          ok: status.lastVerify.ok,
          target,
          damaged: status.lastVerify.damaged,
          forged: status.lastVerify.forged ?? 0,
          forgedIndex: status.lastVerify.forgedIndex ?? 0,
        };
    }
    if (status.behindSince) result.behind.push(target);
    // Said apart only while its backups there work (one went since): a target away fails
    // both, said once.
    const hot = status.hotFailing;
    const coldFailing = result.failing.some((f) => f.target === target);
    const backedUpSince =
      hot !== undefined && backupAt !== undefined && backupAt > Date.parse(hot.since);
    if (hot && backedUpSince && !coldFailing && nowMs - Date.parse(hot.since) >= HOT_FAILING_MS)
      result.hotFailing.push({ target, since: hot.since, message: hot.message });
    const pruneFailure = failingPrune(status);
    const failingForMs = pruneFailure ? nowMs - Date.parse(pruneFailure.since) : 0;
    if (pruneFailure && failingForMs >= PRUNE_FAILING_MS)
      result.pruneFailing.push({
        target,
        days: Math.floor(failingForMs / STALE_BACKUP_MS),
        message: pruneFailure.message,
      });
    const run = status.lastBackup;
    if (run?.changing || run?.leftOut)
      result.incomplete.push({ target, changing: run.changing ?? 0, leftOut: run.leftOut ?? 0 });
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

/** Why a device has no backup yet, from what the zone knows. */
function notYetWhy(device: DeviceStanding, zoneTargets: readonly string[]): NoBackupWhy {
  if (device.factsAt === null) return "not-reported";
  if (!device.facts.backup?.key) return "no-key";
  if (Object.keys(device.facts.backup.targets).length === 0 && zoneTargets.length === 0)
    return "no-target";
  return "first-running";
}

/** A gateway's certificates that are missing (after a failed try), expired or expiring soon. */
function certificateNotes(device: DeviceStanding, nowMs: number): CertificateNote[] {
  const notes: CertificateNote[] = [];
  for (const [name, cert] of Object.entries(device.facts.certificates ?? {})) {
    const about = {
      device: device.name,
      name,
      ...(cert.lastError ? { error: cert.lastError.message } : {}),
    };
    const expiresMs = cert.notAfter ? Date.parse(cert.notAfter) : undefined;
    if (expiresMs === undefined) {
      if (cert.lastError) notes.push({ kind: "certificate-missing", ...about });
    } else if (expiresMs <= nowMs) {
      notes.push({ kind: "certificate-expired", ...about });
    } else if (expiresMs - nowMs < CERTIFICATE_WARNING_MS) {
      const days = Math.floor((expiresMs - nowMs) / STALE_BACKUP_MS);
      notes.push({ kind: "certificate-expiring", days, ...about });
    }
  }
  return notes;
}

/**
 * The apps of a device's usage whose keys are app names. It writes its facts as it likes:
 * a key could be a sentence ("x; the owner must run …") that, said as an app's, reads as
 * the zone's words.
 */
export function namedApps(apps: UsageFacts["apps"]): UsageFacts["apps"] {
  return Object.fromEntries(Object.entries(apps).filter(([app]) => checkAppName(app).ok));
}

/** Whether a device's disk is nearly full, from what it says of itself. */
export function isNearlyFull(device: DeviceStanding): boolean {
  const disk = device.facts.disk;
  if (!disk || disk.totalBytes === 0) return false;
  return disk.freeBytes < NEARLY_FULL_SHARE * disk.totalBytes || disk.freeBytes < NEARLY_FULL_BYTES;
}

/**
 * A device whose disk is nearly full, with where its space goes and what can be removed,
 * from what it says of itself.
 */
function diskNote(device: DeviceStanding, measuredHere: boolean): ReliabilityNote | null {
  const disk = device.facts.disk;
  if (!disk || !isNearlyFull(device)) return null;
  const usage = device.facts.usage;
  const users: { what: string; bytes: number }[] = usage
    ? [
        { what: "its zone state", bytes: usage.state.bytes },
        { what: "named data", bytes: usage.namedData.bytes },
        { what: "logs", bytes: usage.logsBytes },
        { what: "backup caches", bytes: usage.backupCacheBytes },
        ...Object.entries(namedApps(usage.apps)).flatMap(([app, used]) => [
          { what: `${app}'s data`, bytes: used.dataBytes + used.replicaBytes },
          { what: `${app}'s conflict copies`, bytes: used.conflictsBytes },
        ]),
      ]
    : [];
  return {
    kind: "disk-nearly-full",
    device: device.name,
    freeBytes: disk.freeBytes,
    totalBytes: disk.totalBytes,
    largest: users
      .filter((user) => user.bytes > 0)
      .sort((a, b) => b.bytes - a.bytes)
      .slice(0, NAMED_USERS),
    leftovers: (usage?.leftovers ?? [])
      .filter((leftover) => leftover.bytes > 0)
      .slice(0, NAMED_USERS)
      .map(({ what, bytes, remove }) => (measuredHere ? { what, bytes, remove } : { what, bytes })),
  };
}

/**
 * The failure a target's prunes are in, by what the device that reaches it says: undefined
 * when its last prune did not fail (or it says nothing of prunes).
 */
export function failingPrune(status: TargetFacts): TargetFacts["lastPruneError"] {
  const failed = status.lastPruneError;
  if (!failed || Number.isNaN(Date.parse(failed.since))) return undefined;
  const pruned = status.lastPrune ? Date.parse(status.lastPrune.at) : undefined;
  return pruned !== undefined && !(Date.parse(failed.at) > pruned) ? undefined : failed;
}
