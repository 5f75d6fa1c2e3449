/**
 * The other devices of the zone as this node sees them: where each one listens and which
 * TLS certificate it serves (from its `devices/<name>/info`, which only it can write),
 * and when this node last heard from it.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { publicKeyOfId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { certificateDer, isDeviceCertificate } from "../../protocol/tls-cert.ts";
import type { StateQueries } from "../store/db.ts";
import { type StateReader, sqliteOf, stateValue } from "../store/reads.ts";
import { type Member, type Membership, standingOf } from "../sync/membership.ts";
import { ClockOffsets } from "./clock-offsets.ts";

/** What a device publishes about itself at `devices/<name>/info`. */
export interface DeviceInfo {
  /** `https://host:port` addresses, best first. */
  readonly addrs: readonly string[];
  /** The PEM certificate its TLS server presents. */
  readonly cert: string;
  readonly version: string;
  /**
   * The newest version of request authentication it accepts (protocol/request-auth.ts);
   * absent from a device that knows only the first, which is then called with signatures.
   */
  readonly requestAuth?: number;
  /**
   * The level of write rules it reads (protocol/write-rules.ts WRITE_RULES_LEVEL); absent
   * from a device from before levels were said, which is then of level 0.
   */
  readonly writeRules?: number;
}

export interface Peer {
  readonly id: DeviceId;
  readonly name: string;
  readonly addresses: readonly string[];
  readonly certPem: string;
  /** The newest version of request authentication it accepts (1 when absent). */
  readonly requestAuth?: number;
}

/** Members in good standing, other than this device, that have published where they listen. */
export function readPeers(db: StateQueries, membership: Membership, self: DeviceId): Peer[] {
  const result: Peer[] = [];
  for (const member of membership.byId.values()) {
    if (member.id === self || standingOf(membership, member.id) !== "member") continue;
    const peer = peerOf(db, member);
    if (peer) result.push(peer);
  }
  return result.sort((a, b) => compareCodeUnits(a.name, b.name));
}

/** How to call a member: where it listens and the certificate it serves, if it published them. */
export function peerOf(db: StateQueries, member: Member): Peer | undefined {
  const info = readDeviceInfo(db, member.name);
  if (!info) return undefined;
  // The certificate must be the one the device's own key makes: pinning it then
  // authenticates the device, whoever stored the info.
  const der = certificateDer(info.cert);
  if (!der || !isDeviceCertificate(der, publicKeyOfId(member.id, "device") as Uint8Array))
    return undefined;
  return {
    id: member.id,
    name: member.name,
    addresses: info.addrs,
    certPem: info.cert,
    ...(info.requestAuth ? { requestAuth: info.requestAuth } : {}),
  };
}

/** A device's owner-signed document (JWS), as the zone state holds it. */
export function readDeviceDocument(db: StateReader, name: string): string | undefined {
  const value = stateValue(db, `devices/${name}/doc`);
  return value ? (JSON.parse(value) as string) : undefined;
}

export function readDeviceInfo(db: StateReader, name: string): DeviceInfo | undefined {
  const value = stateValue(db, `devices/${name}/info`);
  if (!value) return undefined;
  const info = JSON.parse(value) as Partial<DeviceInfo> | null;
  // A device writes its info as it likes: `null` or `5` is no info, not a TypeError.
  if (
    typeof info !== "object" ||
    info === null ||
    !Array.isArray(info.addrs) ||
    typeof info.cert !== "string"
  )
    return undefined;
  return {
    addrs: info.addrs.filter((a): a is string => typeof a === "string"),
    cert: info.cert,
    version: String(info.version),
    ...(Number.isSafeInteger(info.requestAuth) && (info.requestAuth as number) > 1
      ? { requestAuth: info.requestAuth as number }
      : {}),
    ...(Number.isSafeInteger(info.writeRules) && (info.writeRules as number) > 0
      ? { writeRules: info.writeRules as number }
      : {}),
  };
}

export interface Contact {
  /** Where this node last reached it; null if it has only called this node. */
  readonly address: string | null;
  readonly lastSeenAt: number;
  readonly rttMs: number;
}

/** The contacts the daemon last saved. */
export function savedContacts(db: StateQueries): [DeviceId, Contact][] {
  return sqliteOf(db)
    .query<{ deviceId: string; address: string | null; lastSeenAt: number; rttMs: number }, []>(
      "SELECT device_id AS deviceId, address, last_seen_at AS lastSeenAt, rtt_ms AS rttMs FROM peers",
    )
    .all()
    .map((row) => [
      row.deviceId as DeviceId,
      { address: row.address, lastSeenAt: row.lastSeenAt, rttMs: row.rttMs },
    ]);
}

/** Where each peer was last reached, and when. */
export interface ContactBook {
  get(id: DeviceId): Contact | undefined;
  seen(id: DeviceId, contact: Contact): void;
  /**
   * The peer was heard from at `atMs` (it called, or its answer began or is arriving, for
   * a while after its head: lib/node/peer-client.ts): where to reach it is kept.
   */
  heardFrom(id: DeviceId, atMs: number): void;
}

/**
 * When each peer was last heard from. Kept in memory and written to the database at most
 * every few seconds per peer, so a busy sync does not turn into a stream of writes.
 */
export class Contacts implements ContactBook {
  private readonly contacts = new Map<DeviceId, Contact>();
  private readonly persistedAt = new Map<DeviceId, number>();
  private readonly clocks: ClockOffsets;

  /** `monotonicMs`: a clock that is never set, for ClockOffsets (performance.now's if not given). */
  constructor(
    private readonly db: StateQueries,
    private readonly persistEveryMs = 10_000,
    monotonicMs?: () => number,
  ) {
    this.clocks = new ClockOffsets(monotonicMs);
    for (const [id, contact] of savedContacts(db)) this.contacts.set(id, contact);
  }

  get(id: DeviceId): Contact | undefined {
    return this.contacts.get(id);
  }

  /**
   * The peer's answer to this node's call is arriving, or it called: it is alive, though
   * this says nothing of how to reach it.
   */
  heardFrom(id: DeviceId, atMs: number): void {
    const known = this.contacts.get(id);
    this.seen(id, { address: known?.address ?? null, rttMs: known?.rttMs ?? 0, lastSeenAt: atMs });
  }

  /**
   * The peer called this node with a request it signed at `signedAtMs` (its clock). It is
   * heard when it signed it, by this clock, not when it arrived: a request held on the way
   * is not the peer heard now (a standby holds back from taking an app over while it
   * hears the holder). Nor does an older one undo a later hearing.
   */
  calledBy(id: DeviceId, signedAtMs: number, nowMs: number): void {
    this.clocks.read(id, signedAtMs, nowMs);
    const heardAtMs = this.clocks.signedAt(id, signedAtMs, nowMs);
    const last = this.contacts.get(id)?.lastSeenAt;
    // A last hearing ahead of now is this clock set back since: not one to keep.
    if (last !== undefined && heardAtMs <= last && last <= nowMs) return;
    this.heardFrom(id, heardAtMs);
  }

  /** How far the peer's clock is ahead of this one's, as its recent requests say (kept in memory). */
  clockOffsetMs(id: DeviceId): number | undefined {
    return this.clocks.offsetMs(id);
  }

  seen(id: DeviceId, contact: Contact): void {
    this.contacts.set(id, contact);
    if (contact.lastSeenAt - (this.persistedAt.get(id) ?? 0) < this.persistEveryMs) return;
    this.persistedAt.set(id, contact.lastSeenAt);
    sqliteOf(this.db)
      .query<unknown, [string, string | null, number, number]>(
        `INSERT INTO peers (device_id, address, last_seen_at, rtt_ms) VALUES (?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET
           address = excluded.address, last_seen_at = excluded.last_seen_at, rtt_ms = excluded.rtt_ms`,
      )
      .run(id, contact.address, contact.lastSeenAt, contact.rttMs);
  }
}

/** Contacts kept only in memory, for a one-off command: starting from what the daemon saved, if anything. */
export class MemoryContacts implements ContactBook {
  private readonly contacts: Map<DeviceId, Contact>;

  constructor(initial: Iterable<[DeviceId, Contact]> = []) {
    this.contacts = new Map(initial);
  }

  get(id: DeviceId): Contact | undefined {
    return this.contacts.get(id);
  }

  seen(id: DeviceId, contact: Contact): void {
    this.contacts.set(id, contact);
  }

  heardFrom(id: DeviceId, atMs: number): void {
    const known = this.contacts.get(id);
    this.seen(id, { address: known?.address ?? null, rttMs: known?.rttMs ?? 0, lastSeenAt: atMs });
  }
}
