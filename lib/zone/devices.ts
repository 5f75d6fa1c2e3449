/** The zone's devices as this node sees them, and revoking one (owner only). */
import { signRevocation } from "../../protocol/documents.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { revocationIssuedAt } from "../../protocol/revocation-order.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { newestOpenToRevoked, newKeyEpochOp } from "../backup/key-epochs.ts";
import { readZoneTargets } from "../backup/zone-targets.ts";
import { BuckyError } from "../errors.ts";
import type { StoppedFacts } from "../facts/payload.ts";
import { readPayload } from "../facts/payload.ts";
import { countedDevices, readZoneFacts } from "../facts/zone-facts.ts";
import { RELAY_ROUTE_PREFIX } from "../node/peer-client.ts";
import { readDeviceInfo } from "../node/peers.ts";
import { readRelays } from "../relay/relays.ts";
import { stateValue } from "../store/reads.ts";
import { heldFactsOf } from "../sync/facts.ts";
import { type Member, standingOf } from "../sync/membership.ts";
import { heardWithin, lastHeardAlive } from "../sync/presence.ts";
import { type RevokedForkNote, revokedForkNotes } from "../sync/quarantine-notes.ts";
import { type ClockAheadFigure, clockAheadNotes } from "./reliability.ts";
import { type AskingZone, askZoneHead, type PullFrom, type ZoneHead } from "./zone-head.ts";
import type { ZoneWriter } from "./zone-writer.ts";

/**
 * A peer that called here within this window counts as online (or within the live window,
 * when the zone's heartbeat makes that shorter: labs and tests beat in seconds).
 */
export const ONLINE_WINDOW_MS = 30_000;

export type DeviceStatus = "online" | "offline" | "revoked" | "quarantined";

export interface DeviceView {
  readonly name: string;
  readonly id: DeviceId;
  readonly status: DeviceStatus;
  /** RFC 3339, or null when never heard from. */
  readonly lastSeenAt: string | null;
  readonly self: boolean;
  /** How this node last reached it: straight to one of its addresses, or through a relay. */
  readonly route: "direct" | "relayed" | null;
  /** The address it was reached at (direct), or null. */
  readonly address: string | null;
  /** The relay it was reached through (relayed), or null. */
  readonly via: string | null;
  /** The round trip of that last request. */
  readonly rttMs: number | null;
  /** The bucky it runs, as its info says (null: it has said none yet): the same on every device. */
  readonly version: string | null;
  /**
   * Whether members refuse its records for its clock, as their facts say (the status's
   * `clock-ahead` note): by whom, and each one's own figure (how far ahead of its clock,
   * since when); null when none does. The zone's word, the same on every device asked.
   */
  readonly clockAhead: {
    readonly by: readonly string[];
    readonly figures: readonly ClockAheadFigure[];
  } | null;
  /**
   * Its daemon stopped for good, as its last facts say (the status's `stopped` note): why,
   * its words, and when; null while its facts say nothing of it. The same on every device.
   */
  readonly stopped: StoppedFacts | null;
  /**
   * When quarantined: the seq from which every device refuses its changesets (where its
   * two histories part), the same on every device once the proof reached it; else null
   * (a device revoked since too: it is revoked, and needs nothing more of the owner).
   */
  readonly quarantinedFrom: number | null;
  /**
   * When revoked and proven to fork within what the revocation keeps: where it parts, what
   * a new revocation would keep and the devices it would drop (lib/sync/quarantine-notes.ts),
   * the same on every device; else null.
   */
  readonly revokedFork: RevokedForkNote | null;
}

export interface ContactLookup {
  get(id: DeviceId): { address: string | null; lastSeenAt: number; rttMs: number } | undefined;
}

/**
 * A device is online once its daemon has been heard from (its signed presence, passed on
 * by any peer) within the live window that placement uses too, or once it has called this
 * device lately after that; requests made while it joined, before its daemon ran, do not
 * count.
 */
export function listDevices(
  zone: ZoneWriter,
  contacts: ContactLookup,
  liveWindowMs: number,
): DeviceView[] {
  const membership = zone.membership();
  const alive = lastHeardAlive(zone.db);
  // Relays are named by their device ids in contacts: members by name, outside relays too.
  const relayNames = new Map<string, string>(
    readRelays(zone.db, membership).map((relay) => [relay.id, relay.name]),
  );
  const now = zone.now();
  // Members only, as status counts them: a revoked or quarantined device's word is none.
  const counted = countedDevices(readZoneFacts(zone.db, membership, now, liveWindowMs));
  const clockAhead = new Map(
    clockAheadNotes(counted).map(({ device, by, figures }) => [device, { by, figures }]),
  );
  const stopped = new Map(
    counted.flatMap((device) =>
      device.facts.stopped ? [[device.name, device.facts.stopped]] : [],
    ),
  );
  const revokedForks = new Map(
    revokedForkNotes(zone.db, membership).map((note) => [note.device, note]),
  );
  return [...membership.byId.values()]
    .map((member): DeviceView => {
      const self = member.id === zone.deviceId;
      const contact = contacts.get(member.id);
      const heardAlive = alive.get(member.id);
      const called = heardAlive === undefined ? undefined : contact?.lastSeenAt;
      const lastSeenAt = self ? now : maxOf(heardAlive, called);
      const standing = standingOf(membership, member.id);
      const online =
        self ||
        heardWithin(heardAlive, now, liveWindowMs) ||
        heardWithin(called, now, Math.min(ONLINE_WINDOW_MS, liveWindowMs));
      const status: DeviceStatus =
        standing === "revoked" || standing === "quarantined"
          ? standing
          : online
            ? "online"
            : "offline";
      return {
        name: member.name,
        id: member.id,
        status,
        lastSeenAt: lastSeenAt === undefined ? null : new Date(lastSeenAt).toISOString(),
        self,
        ...routeOf(self ? null : (contact?.address ?? null), relayNames),
        rttMs: self || !contact?.address ? null : contact.rttMs,
        version: readDeviceInfo(zone.db, member.name)?.version ?? null,
        clockAhead: clockAhead.get(member.name) ?? null,
        stopped: stopped.get(member.name) ?? null,
        // A device revoked since needs nothing more of the owner (quarantine-notes.ts).
        quarantinedFrom: standing === "quarantined" ? (member.forkSeq ?? null) : null,
        revokedFork: revokedForks.get(member.name) ?? null,
      };
    })
    .sort((a, b) => compareCodeUnits(a.name, b.name));
}

function maxOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

/** What a contact's recorded address says about the route: `relay:<id>` or an address. */
function routeOf(
  address: string | null,
  relayNames: ReadonlyMap<string, string>,
): Pick<DeviceView, "route" | "address" | "via"> {
  if (address === null) return { route: null, address: null, via: null };
  if (!address.startsWith(RELAY_ROUTE_PREFIX)) return { route: "direct", address, via: null };
  const relay = address.slice(RELAY_ROUTE_PREFIX.length);
  return { route: "relayed", address: null, via: relayNames.get(relay) ?? relay };
}

/** What a revocation kept of the device, and whom it asked (lib/zone/zone-head.ts). */
export interface Revoked {
  readonly name: string;
  readonly id: DeviceId;
  /** Its changesets up to this one stay in the zone; later ones are refused everywhere. */
  readonly keptSeq: number;
  /** The device whose head that was: this one, or a member it was fetched from. */
  readonly keptFrom: string;
  readonly asked: ZoneHead["asked"];
  readonly notAsked: ZoneHead["notAsked"];
  /**
   * Whether it may hold the backup key: its facts say so, or it never said (revoking does
   * not change that key, so it can still read the zone's backups wherever it reaches them).
   */
  readonly heldBackupKey: boolean;
  /** Where the zone's backups are that it may reach: the zone's targets and its own. */
  readonly backupTargets: readonly string[];
  /**
   * The zone's targets it reached for the others (their via): no device's backups go there
   * any more, until the target is added again on a device that reaches it.
   */
  readonly targetsThrough: readonly string[];
  /**
   * The key epoch this revocation began (lib/backup/key-epochs.ts): backups from now on are
   * sealed under a key the device never held. Null when none began: it held no backup key,
   * or it was revoked before.
   */
  readonly backupKeyEpoch: number | null;
}

/**
 * Revokes a device: the owner signs that it is no longer a member, keeping its changesets
 * as far as the members this device reaches hold them (fetched here first; see
 * lib/zone/zone-head.ts; of one quarantined, only those before the seq it signed twice).
 * Every device then refuses its later changesets and its requests.
 */
export async function revokeDevice(
  zone: AskingZone,
  name: string,
  pull: PullFrom,
): Promise<Revoked> {
  const member = zone.membership().byName.get(name);
  if (!member)
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone has no device named ${name}`,
      "See them with `bucky devices`.",
    );
  if (member.id === zone.deviceId) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      "a device cannot revoke itself",
      "Revoke it from another device that holds the owner key.",
    );
  }
  const exposure = backupExposure(zone, member.id, name);
  if (member.revokedAfterSeq !== undefined) {
    if (member.recutSeq === undefined) {
      const keptSeq = member.revokedAfterSeq;
      return {
        name,
        id: member.id,
        keptSeq,
        keptFrom: zone.deviceName,
        asked: [],
        notAsked: [],
        ...exposure,
        backupKeyEpoch: null,
      };
    }
    return { ...revokeAgain(zone, member, member.recutSeq), ...exposure, backupKeyEpoch: null };
  }
  // Said before asking anyone: a device without the owner key cannot revoke at all.
  const ownerKey = zone.ownerKey();
  const head = await askZoneHead(zone, member, pull);
  // Revoked meanwhile (by another request, or a revocation synced in): that one stands.
  const since = zone.membership().byId.get(member.id)?.revokedAfterSeq;
  if (since !== undefined)
    return {
      name,
      id: member.id,
      keptSeq: since,
      keptFrom: zone.deviceName,
      asked: head.asked,
      notAsked: head.notAsked,
      ...exposure,
      backupKeyEpoch: null,
    };
  const revocation = signRevocation(
    {
      id: member.id,
      name: member.name,
      lastSeq: head.seq,
      issuedAt: issuedAtOver(zone, name),
    },
    ownerKey,
  );
  // One that may hold the backup key is shut out of every later backup: a new key epoch,
  // sealed to the devices that stay, goes in with the revocation (one changeset, so no
  // device learns of one without the other).
  const renewal = exposure.heldBackupKey
    ? newKeyEpochOp({
        db: zone.db,
        zone: zone.zoneId,
        owner: ownerKey,
        revoked: member.id,
        devices: keyHolders(zone, member.id),
      })
    : undefined;
  zone.write([
    { key: `devices/${name}/revoked`, value: JSON.stringify(revocation.jws) },
    ...(renewal ? [renewal.op] : []),
  ]);
  if (renewal) zone.log.info("backup key renewed", { epoch: renewal.epoch, shutOut: name });
  zone.log.info("device revoked", {
    device: name,
    id: member.id,
    keptSeq: head.seq,
    keptFrom: head.from,
    asked: head.asked.map((answer) => answer.device).join(","),
    notAsked: head.notAsked.map((answer) => answer.device).join(","),
  });
  return {
    name,
    id: member.id,
    keptSeq: head.seq,
    keptFrom: head.from,
    asked: head.asked,
    notAsked: head.notAsked,
    ...exposure,
    backupKeyEpoch: renewal?.epoch ?? null,
  };
}

/**
 * A new key epoch, sealed to the members that stay, where the newest is still sealed to a
 * revoked device (newestOpenToRevoked: two revocations at once, on two devices holding the
 * owner key). For a device holding the owner key; returns the epoch written, if any. Two
 * such devices renewing at once each shut out every revoked device, so either will do.
 */
export function renewOpenKeyEpoch(
  zone: ZoneWriter,
  /** The revoked devices it is open to, when the caller read them already. */
  open: readonly DeviceId[] = newestOpenToRevoked(zone.db, zone.zoneId, zone.membership()),
): number | undefined {
  const membership = zone.membership();
  const [shutOut] = open;
  if (shutOut === undefined) return undefined;
  const renewal = newKeyEpochOp({
    db: zone.db,
    zone: zone.zoneId,
    owner: zone.ownerKey(),
    revoked: shutOut,
    // Members in good standing only: every revoked device is left out, not just this one.
    devices: keyHolders(zone, shutOut),
  });
  zone.write([renewal.op]);
  zone.log.info("backup key renewed", {
    epoch: renewal.epoch,
    shutOut: open.map((id) => membership.byId.get(id)?.name ?? id).join(","),
    why: "the newest was sealed to a revoked device",
  });
  return renewal.epoch;
}

/**
 * The devices a new key epoch is sealed to: the members in good standing but `revoked`
 * that may hold the backup key (their facts say so, or they never said).
 */
function keyHolders(zone: ZoneWriter, revoked: DeviceId): DeviceId[] {
  const holders: DeviceId[] = [];
  for (const member of zone.membership().byId.values())
    if (
      member.id !== revoked &&
      standingOf(zone.membership(), member.id) === "member" &&
      mayHoldBackupKey(zone, member.id)
    )
      holders.push(member.id);
  return holders;
}

/**
 * What of the zone's backups a device being revoked may still read: the backup key comes
 * from the recovery phrase and stays the same after a revocation, so a device that held it
 * reads every backup it can reach, later ones included. Said to the owner, who can take
 * away what it used to reach them (a target's password or SSH key).
 */
type BackupExposure = Pick<Revoked, "heldBackupKey" | "backupTargets" | "targetsThrough">;

function backupExposure(zone: AskingZone, id: DeviceId, name: string): BackupExposure {
  const said = heldFactsOf(zone.db, id);
  const backup = said ? readPayload(said.facts).backup : undefined;
  const heldBackupKey = mayHoldBackupKey(zone, id);
  const zoneTargets = readZoneTargets(zone.db);
  const targetsThrough = zoneTargets
    .filter((target) => target.via === name)
    .map((target) => target.name)
    .sort(compareCodeUnits);
  if (!heldBackupKey) return { heldBackupKey, backupTargets: [], targetsThrough };
  const targets = new Set(zoneTargets.map((target) => target.name));
  for (const target of Object.keys(backup?.targets ?? {})) targets.add(target);
  return { heldBackupKey, backupTargets: [...targets].sort(compareCodeUnits), targetsThrough };
}

/** Whether device `id` may hold the backup key: its facts say so, or it never said. */
function mayHoldBackupKey(zone: ZoneWriter, id: DeviceId): boolean {
  const said = heldFactsOf(zone.db, id);
  return !said || Boolean(readPayload(said.facts).backup?.key);
}

/**
 * When to sign a new revocation for `name`: now, or just after the revocation the state
 * holds for that name if this device's clock is behind it. Of two revocations of different
 * devices the later signed stays (protocol/revocation-order.ts): a clock running behind
 * must not make the owner's new one lose to an old one.
 */
function issuedAtOver(zone: AskingZone, name: string): number {
  const now = Math.floor(zone.now() / 1000);
  const held = revocationIssuedAt(stateValue(zone.db, `devices/${name}/revoked`) ?? null);
  return held === undefined ? now : Math.max(now, held + 1);
}

/**
 * Revokes again a revoked device proven to fork within what its revocation kept: the owner
 * signs a cut before the fork (or at the checkpoint's frontier, settled history), which
 * every device then applies as any revocation (lib/sync/cut.ts), dropping both histories
 * past it and the devices they admitted. Nobody is asked: what the zone keeps of it is
 * below what every device already agreed to keep. A fork at its first changeset cannot be
 * cut below: that would drop the admissions it wrote (the zone's founding changeset, for
 * its founder).
 */
function revokeAgain(
  zone: AskingZone,
  member: Member,
  lastSeq: number,
): Omit<Revoked, keyof BackupExposure | "backupKeyEpoch"> {
  if (lastSeq < 1)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${member.name} was revoked, and its history parts at its first change (#1): no revocation can keep less than that`,
      "Its first change stays as the revocation keeps it; each device keeps what it holds of it. Nothing else to do.",
    );
  const ownerKey = zone.ownerKey();
  const revocation = signRevocation(
    { id: member.id, name: member.name, lastSeq, issuedAt: issuedAtOver(zone, member.name) },
    ownerKey,
  );
  zone.write([{ key: `devices/${member.name}/revoked`, value: JSON.stringify(revocation.jws) }]);
  zone.log.info("device revoked again, before its fork", {
    device: member.name,
    id: member.id,
    keptSeq: lastSeq,
    wasKeptSeq: member.revokedAfterSeq,
    forkSeq: member.forkSeq,
  });
  return {
    name: member.name,
    id: member.id,
    keptSeq: lastSeq,
    keptFrom: zone.deviceName,
    asked: [],
    notAsked: [],
  };
}
