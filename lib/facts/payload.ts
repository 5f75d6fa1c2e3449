/**
 * What a device says of itself in its facts (protocol/device-facts.ts carries them,
 * signed): its backups to each target and whether it can back up at all, its disk and
 * where its space goes, a gateway's certificates, and the devices it cannot sync with (they
 * refuse its requests, or it refuses their records for their clock).
 * Read defensively: a part that does not have the expected shape (a newer or a broken
 * device) reads as unknown, never as an error for the reader.
 *
 * Read by the small checks below rather than a schema library: every command that shows
 * the zone (`bucky status`) reads facts, and building a schema's objects at start-up cost
 * more than the rest of such a command. A test holds these checks to the schema they
 * replaced.
 *
 * Every name a device gives (a backup target, an app, a device, a conflict copy, a host a
 * certificate is for) is read only when it is a name of its kind: a device writes its facts
 * as it likes, and a "name" shown as written could be a sentence read as the zone's words
 * ("x; the owner must run …"). A bad name leaves out its entry, not the rest of the facts.
 */
import { TARGET_NAME } from "../../protocol/backup/zone-target.ts";
import { checkAppName, checkDeviceName, isHostName } from "../../protocol/names.ts";
import { isConflictCopyName } from "../../protocol/replica.ts";
import { addressBytes } from "../../protocol/zone-ca.ts";

/** A device says the space of at most this many apps (the largest), and of as many leftovers. */
export const MAX_USAGE_APPS = 100;
export const MAX_LEFTOVERS = 20;
/** The most devices a device says refuse its sync requests (a zone has far fewer). */
export const MAX_SYNC_REFUSED = 100;
/** The most devices a device says it refuses for their clock (a zone has far fewer). */
export const MAX_CLOCK_AHEAD = 100;
/** The most members a device says it refuses the changesets of by a write rule. */
export const MAX_WRITES_REFUSED = 100;
/** The most broken chains a device says (one per member: a zone has far fewer). */
export const MAX_BROKEN_CHAINS_SAID = 100;
/** A refusal's reason is said to this many characters (a key in it can be long). */
export const MAX_REFUSAL_CHARS = 300;
/** An error code as bucky says them (a newer peer's too): E_ and capitals. */
const ERROR_CODE = /^E_[A-Z0-9_]{1,38}$/;

export interface BackupRun {
  at: string;
  snapshot: string;
  durationMs: number;
  /** Bytes of the files read anew (changed since the run before), and when that was. */
  changedBytes?: number;
  sinceMs?: number;
  /** Bytes written to the target (sealed, compressed). */
  storedBytes?: number;
  /** Files that kept changing while read (backed up as last read), and entries left out. */
  changing?: number;
  leftOut?: number;
}

export interface TargetFacts {
  lastBackup?: BackupRun;
  lastBackupError?: { at: string; message: string };
  /**
   * `forged`: snapshots filed in a device's name by another key; `forgedIndex`: index files
   * left out as forged (absent: none said).
   */
  lastVerify?: { at: string; ok: boolean; damaged: number; forged?: number; forgedIndex?: number };
  behindSince?: string | null;
  /** Said by the device that reaches the target, which alone prunes it. */
  lastPrune?: { at: string };
  lastPruneError?: { at: string; since: string; message: string };
  /** This device's hot changes fail to reach the target, since when, why. */
  hotFailing?: { since: string; message: string };
}

interface SnapshotPosition {
  epoch: number;
  seq: number;
  /**
   * Until when that snapshot holds every write (the holder's clock, ms): when it was taken,
   * or, held or a standby's position, when the holder last found its data unchanged since.
   */
  at: number;
}

/** App data this device holds or keeps a copy of, and the conflict copies it keeps. */
export interface ReplicaFacts {
  held: Record<
    string,
    SnapshotPosition & {
      bytes: number;
      /** Bytes sent to standbys since the holder's daemon started. */
      servedBytes?: number;
      standbys: Record<
        string,
        SnapshotPosition & {
          ackedAtMs: number;
          /** How long its copy has been behind the holder's data (0: up to date). */
          lagMs: number;
          lagBytes: number;
        }
      >;
    }
  >;
  copies: Record<
    string,
    SnapshotPosition & {
      final: boolean;
      holder: string;
      bytes: number;
      /** When the standby last read its whole copy back (ms, its clock). */
      verifiedAt?: number;
      /** How many blobs it found damaged then, not fetched again yet (0: whole). */
      damagedBlobs?: number;
    }
  >;
  /** Each app's newest conflict copies kept on the device, CONFLICTS_LISTED at most. */
  conflicts: Record<string, { name: string; at: string; bytes: number; epoch: number }[]>;
  /**
   * How many conflict copies of each app it keeps, all of them (`conflicts` lists the newest):
   * a drain waits on those not listed too. Absent from an older bucky's facts.
   */
  conflictsKept?: Record<string, number>;
}

/** The most conflict copies of an app a device lists in its facts: the newest. */
export const CONFLICTS_LISTED = 20;

/** Where the device's disk goes (lib/disk/usage.ts), as it last measured. */
export interface UsageFacts {
  state: {
    bytes: number;
    changesets: number;
    keys: number;
    checkpoint: { id: string; cut: string; keys: number } | null;
  };
  namedData: { bytes: number; objects: number };
  apps: Record<
    string,
    {
      dataBytes: number;
      packagesBytes: number;
      conflictsBytes: number;
      replicaBytes: number;
      logsBytes: number;
      /** Absent from a bucky older than this one (its dataBytes counted them). */
      upgradeCopiesBytes?: number;
    }
  >;
  logsBytes: number;
  backupCacheBytes: number;
  leftovers: { what: string; bytes: number; remove: string }[];
  /**
   * When the device walked its disk for these figures (its clock), so that every device
   * shows them as of then: they are re-measured every ten minutes, and at once on the
   * device asked for them. Absent from a bucky older than this one.
   */
  measuredAt?: string;
}

/** A gateway's certificate for one name: who issues it, until when, and what went wrong last. */
export interface CertificateFacts {
  issuer: "acme" | "zone" | "files";
  notAfter?: string;
  lastError?: { at: string; message: string; hint?: string };
}

export interface DeviceFactsPayload {
  /** Whether this device holds the owner key (admits and revokes devices, signs as the owner). */
  ownerKey?: boolean;
  backup?: {
    /** Whether this device holds the backup key (so can back up and restore). */
    key: boolean;
    /**
     * Its proof that it does (protocol/backup/epoch-grant.ts backupKeyProof): a device that
     * opens a key epoch this one was left out of gives it on, only on this word.
     */
    keyProof?: string;
    targets: Record<string, TargetFacts>;
  };
  disk?: { freeBytes: number; totalBytes: number };
  replicas?: ReplicaFacts;
  usage?: UsageFacts;
  /** A gateway's requests per app in each of the last complete hours, oldest first. */
  traffic?: {
    /** The start of the first hour (ms). */
    fromMs: number;
    apps: Record<string, { requests: number; bytesOut: number }[]>;
  };
  /** A gateway's certificates, by the name each is for (at most 100). */
  certificates?: Record<string, CertificateFacts>;
  /** The names a gateway has no certificate for, past those 100: how many, and the first ones. */
  certificatesLeftOut?: { count: number; names: string[] };
  /**
   * The gateway this device is to run does not serve: why (its error, as it says it), and
   * since when (RFC 3339). Absent while it serves, or where it runs none.
   */
  gatewayDown?: { message: string; since: string };
  /**
   * The devices that refuse this one's sync requests (a 4xx answer), by name: the code and
   * message of the refusal as this device took them, and since when (RFC 3339).
   */
  syncRefused?: Record<string, SyncRefusedFacts>;
  /**
   * The devices whose changesets, presence and facts this one refuses because their clock
   * is too far ahead of its own, by name: how far ahead (ms), and since when (RFC 3339).
   */
  clockAhead?: Record<string, ClockAheadFacts>;
  /**
   * The members whose changesets this one refuses by a write rule, by name (lib/sync/
   * refused-writes.ts): the seq their changesets stopped at here, the newest reason, and
   * since when (RFC 3339). Absent from a bucky older than this one.
   */
  writesRefused?: Record<string, WritesRefusedFacts>;
  /**
   * The members whose changesets from a peer do not follow what this device holds, where
   * it has not found yet where the two histories part (lib/sync/broken-chains.ts): the
   * member, the peer and the seq, by member. Absent from a bucky older than this one.
   */
  brokenChains?: { device: string; peer: string; seq: number }[];
  /**
   * This device's daemon stopped, and will not start again until a person acts on it
   * there: its zone state was altered behind bucky's back (`state-altered`: `bucky state
   * repair` on it). Said in the last facts it sends as it stops (lib/node/last-word.ts),
   * with what it said before; absent while it runs.
   */
  stopped?: StoppedFacts;
}

/** The most of a stopped device's error its facts carry. */
export const MAX_STOPPED_MESSAGE_CHARS = 500;

/** Why a device's daemon stopped for good, when, and its error as it said it. */
export interface StoppedFacts {
  reason: "state-altered";
  message: string;
  at: string;
}

/** A member whose changesets stopped at this device, refused by a write rule. */
export interface WritesRefusedFacts {
  seq: number;
  reason: string;
  since: string;
}

/** A device refused for its clock. */
export interface ClockAheadFacts {
  aheadMs: number;
  since: string;
}

/** A device refusing this one's sync requests. */
export interface SyncRefusedFacts {
  code: string;
  message: string;
  since: string;
}

/** The payload of a record, or nothing known when it is not one. */
export function readPayload(facts: Readonly<Record<string, unknown>>): DeviceFactsPayload {
  const payload = payloadOf(facts);
  return payload === BAD ? {} : payload;
}

// What a part that does not have its shape reads as, inside the checks.
const BAD = Symbol("bad");
type Read<T> = (value: unknown) => T | typeof BAD;

const text =
  (maxLength: number): Read<string> =>
  (value) =>
    typeof value === "string" && value.length <= maxLength ? value : BAD;
const flag: Read<boolean> = (value) => (typeof value === "boolean" ? value : BAD);
/** A finite number of at least 0. */
const amount: Read<number> = (value) =>
  typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : BAD;
/** A whole number (a safe integer), of at least 0 unless `anySign`. */
const whole =
  (anySign = false): Read<number> =>
  (value) =>
    typeof value === "number" && Number.isSafeInteger(value) && (anySign || value >= 0)
      ? value
      : BAD;
const oneOf =
  <const T extends string>(...choices: T[]): Read<T> =>
  (value) =>
    choices.includes(value as T) ? (value as T) : BAD;
const optional =
  <T>(read: Read<T>): Read<T | undefined> =>
  (value) =>
    value === undefined ? undefined : read(value);
const nullable =
  <T>(read: Read<T>): Read<T | null> =>
  (value) =>
    value === null ? null : read(value);
/** The value, or `fallback` when it is missing or has not the shape. */
const orElse =
  <T, F>(read: Read<T>, fallback: F): Read<T | F> =>
  (value) => {
    const read_ = read(value);
    return read_ === BAD ? fallback : read_;
  };
const satisfying =
  <T>(read: Read<T>, holds: (value: T) => boolean): Read<T> =>
  (value) => {
    const read_ = read(value);
    return read_ !== BAD && holds(read_) ? read_ : BAD;
  };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** An object with these fields (others are left out); a field read as undefined is left out. */
function object<T>(fields: { [K in keyof T]-?: Read<T[K]> }): Read<T> {
  const entries = Object.entries(fields) as [string, Read<unknown>][];
  return (value) => {
    if (!isPlainObject(value)) return BAD;
    const out: Record<string, unknown> = {};
    for (const [name, read] of entries) {
      const field = read(value[name]);
      if (field === BAD) return BAD;
      if (field !== undefined || name in value) out[name] = field;
    }
    return out as T;
  };
}

/**
 * An object used as a map: each key a name of its kind (`isName`), each value read. An
 * entry whose key is not one is left out, whatever its value, so one bad name does not
 * hide the rest, and so is one whose value names something that is not (`holds`); a key
 * `__proto__` is too (as zod left it out: set on the map, it would become its prototype).
 */
function record<T>(
  isName: (key: string) => boolean,
  read: Read<T>,
  holds: (value: T) => boolean = () => true,
): Read<Record<string, T>> {
  return (value) => {
    if (!isPlainObject(value)) return BAD;
    const out: Record<string, T> = {};
    for (const [key, item] of Object.entries(value)) {
      if (key === "__proto__" || !isName(key)) continue;
      const read_ = read(item);
      if (read_ === BAD) return BAD;
      if (holds(read_)) out[key] = read_;
    }
    return out;
  };
}

function list<T>(read: Read<T>, maxLength: number): Read<T[]> {
  return (value) => {
    if (!Array.isArray(value) || value.length > maxLength) return BAD;
    const out: T[] = [];
    for (const item of value) {
      const read_ = read(item);
      if (read_ === BAD) return BAD;
      out.push(read_);
    }
    return out;
  };
}

/** A list of at most `maxLength` items, those that `holds` says are not of their kind left out. */
function listOf<T>(read: Read<T>, maxLength: number, holds: (item: T) => boolean): Read<T[]> {
  const all = list(read, maxLength);
  return (value) => {
    const items = all(value);
    return items === BAD ? BAD : items.filter(holds);
  };
}

// The names facts give, each checked as a name of its kind (protocol/ says what one is).
const appName = (key: string) => checkAppName(key).ok;
const deviceName = (key: string) => checkDeviceName(key).ok;
const targetName = (key: string) => TARGET_NAME.test(key);
/** What a gateway's certificate is for: a host name ("gateway" without one), or an address. */
const certificateName = (key: string) => isHostName(key) || addressBytes(key) !== undefined;

const backupRun = object<BackupRun>({
  at: text(40),
  snapshot: text(80),
  durationMs: amount,
  changedBytes: optional(amount),
  sinceMs: optional(amount),
  storedBytes: optional(amount),
  changing: optional(whole()),
  leftOut: optional(whole()),
});

/**
 * What a device says of a target, each field read on its own: one not of its shape (a
 * bucky of another version, say, that writes it otherwise) is left out, and the rest
 * stand. Read whole, one bad field dropped everything the device said of its backups,
 * and every device took it for one with no backup at all.
 */
const targetFacts = object<TargetFacts>({
  lastBackup: orElse(optional(backupRun), undefined),
  lastBackupError: orElse(optional(object({ at: text(40), message: text(500) })), undefined),
  lastVerify: orElse(
    optional(
      object({
        at: text(40),
        ok: flag,
        damaged: amount,
        forged: optional(amount),
        forgedIndex: optional(amount),
      }),
    ),
    undefined,
  ),
  behindSince: orElse(optional(nullable(text(40))), undefined),
  lastPrune: orElse(optional(object({ at: text(40) })), undefined),
  lastPruneError: orElse(
    optional(object({ at: text(40), since: text(40), message: text(500) })),
    undefined,
  ),
  hotFailing: orElse(optional(object({ since: text(40), message: text(500) })), undefined),
});

const position = { epoch: whole(), seq: whole(), at: amount };

const replicaFacts = object<ReplicaFacts>({
  held: orElse(
    record(
      appName,
      object<ReplicaFacts["held"][string]>({
        ...position,
        bytes: amount,
        servedBytes: optional(amount),
        standbys: record(
          deviceName,
          object({ ...position, ackedAtMs: amount, lagMs: amount, lagBytes: amount }),
        ),
      }),
    ),
    {},
  ),
  copies: orElse(
    record(
      appName,
      object({
        ...position,
        final: flag,
        holder: text(64),
        bytes: amount,
        verifiedAt: optional(amount),
        damagedBlobs: optional(amount),
      }),
      (copy) => deviceName(copy.holder),
    ),
    {},
  ),
  conflicts: orElse(
    record(
      appName,
      listOf(
        object({ name: text(128), at: text(40), bytes: amount, epoch: whole() }),
        CONFLICTS_LISTED,
        (copy) => isConflictCopyName(copy.name),
      ),
    ),
    {},
  ),
  conflictsKept: optional(record(appName, whole())),
});

const usageFacts = object<UsageFacts>({
  state: object({
    bytes: amount,
    changesets: whole(),
    keys: whole(),
    checkpoint: nullable(object({ id: text(64), cut: text(40), keys: whole(true) })),
  }),
  namedData: object({ bytes: amount, objects: whole() }),
  apps: satisfying(
    record(
      appName,
      object({
        dataBytes: amount,
        packagesBytes: amount,
        conflictsBytes: amount,
        replicaBytes: amount,
        logsBytes: amount,
        upgradeCopiesBytes: optional(amount),
      }),
    ),
    (apps) => Object.keys(apps).length <= MAX_USAGE_APPS,
  ),
  logsBytes: amount,
  backupCacheBytes: amount,
  leftovers: list(object({ what: text(300), bytes: amount, remove: text(300) }), MAX_LEFTOVERS),
  measuredAt: orElse(optional(text(40)), undefined),
});

const certificateFacts = object<CertificateFacts>({
  issuer: oneOf("acme", "zone", "files"),
  notAfter: optional(text(40)),
  lastError: optional(object({ at: text(40), message: text(500), hint: optional(text(300)) })),
});

const payloadOf = object<DeviceFactsPayload>({
  ownerKey: orElse(optional(flag), undefined),
  backup: orElse(
    optional(
      object({
        key: flag,
        keyProof: orElse(optional(text(64)), undefined),
        targets: record(targetName, targetFacts),
      }),
    ),
    undefined,
  ),
  disk: orElse(optional(object({ freeBytes: amount, totalBytes: amount })), undefined),
  replicas: orElse(optional(replicaFacts), undefined),
  usage: orElse(optional(usageFacts), undefined),
  traffic: orElse(
    optional(
      object({
        fromMs: amount,
        apps: record(appName, list(object({ requests: amount, bytesOut: amount }), 24)),
      }),
    ),
    undefined,
  ),
  certificates: orElse(
    optional(
      satisfying(
        record(certificateName, certificateFacts),
        (certificates) => Object.keys(certificates).length <= 100,
      ),
    ),
    undefined,
  ),
  certificatesLeftOut: orElse(
    optional(object({ count: whole(), names: listOf(text(253), 10, isHostName) })),
    undefined,
  ),
  gatewayDown: orElse(optional(object({ message: text(500), since: text(40) })), undefined),
  stopped: orElse(
    optional(
      object<StoppedFacts>({
        reason: oneOf("state-altered"),
        message: text(MAX_STOPPED_MESSAGE_CHARS),
        at: text(40),
      }),
    ),
    undefined,
  ),
  syncRefused: orElse(
    optional(
      satisfying(
        record(
          deviceName,
          object<SyncRefusedFacts>({
            code: satisfying(text(40), (code) => ERROR_CODE.test(code)),
            message: text(1000),
            since: text(40),
          }),
        ),
        (refused) => Object.keys(refused).length <= MAX_SYNC_REFUSED,
      ),
    ),
    undefined,
  ),
  clockAhead: orElse(
    optional(
      satisfying(
        record(deviceName, object<ClockAheadFacts>({ aheadMs: whole(), since: text(40) })),
        (ahead) => Object.keys(ahead).length <= MAX_CLOCK_AHEAD,
      ),
    ),
    undefined,
  ),
  writesRefused: orElse(
    optional(
      satisfying(
        record(
          deviceName,
          object<WritesRefusedFacts>({
            seq: whole(),
            reason: text(MAX_REFUSAL_CHARS),
            since: text(40),
          }),
        ),
        (refused) => Object.keys(refused).length <= MAX_WRITES_REFUSED,
      ),
    ),
    undefined,
  ),
  brokenChains: orElse(
    optional(
      listOf(
        object({ device: text(64), peer: text(64), seq: whole() }),
        MAX_BROKEN_CHAINS_SAID,
        (chain) => deviceName(chain.device) && deviceName(chain.peer),
      ),
    ),
    undefined,
  ),
});
