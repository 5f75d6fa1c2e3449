/**
 * Who belongs to the zone, read from its state: every device with an owner-signed
 * document, whether the owner revoked it, whether it is proven to have equivocated
 * (lib/sync/equivocation.ts), and from which seq on its changesets are refused.
 */
import { decodeCheckpoint, frontierSeqs } from "../../protocol/checkpoint.ts";
import {
  type DeviceDocument,
  verifyDeviceDocument,
  verifyRevocation,
} from "../../protocol/documents.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import type { DeviceName } from "../../protocol/names.ts";
import { BuckyError } from "../errors.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { provenForks } from "./held-proofs.ts";

const DEVICES = "devices/";

export interface Member {
  readonly id: DeviceId;
  readonly name: DeviceName;
  /** When the owner admitted it (its document's time, ms since the epoch). */
  readonly admittedAtMs: number;
  /** Set when revoked: the last seq of its changesets the revocation keeps. */
  readonly revokedAfterSeq?: number;
  /** Proven to have signed two histories (a fork point held: lib/sync/equivocation.ts). */
  readonly quarantined: boolean;
  /**
   * When quarantined: the seq its two histories part at (the proof's). Its changesets from
   * there on are refused on every device; none is dropped where it was applied before the
   * proof arrived (a drop would let a stolen device erase its own history zone-wide).
   */
  readonly forkSeq?: number;
  /**
   * Set when revoked or quarantined: the lowest seq of its changesets no device takes. Of a
   * revoked device, past `revokedAfterSeq` (the owner's word alone decides what is kept,
   * and drops what is held past it: lib/sync/cut.ts), proof or not; of one quarantined,
   * `forkSeq`. Below it, any is taken in any order.
   */
  readonly refusedFromSeq?: number;
  /**
   * Set when revoked and proven to fork within what the revocation keeps (`forkSeq` at or
   * below `revokedAfterSeq`): the `lastSeq` a new revocation would sign, the seq before the
   * fork or the checkpoint's frontier, whichever is later (0: a fork at its first changeset,
   * which no revocation can cut below). Devices may hold either history there until the
   * owner revokes it again (lib/zone/devices.ts); no proof cuts anything by itself.
   */
  readonly recutSeq?: number;
}

export interface Membership {
  readonly byId: ReadonlyMap<DeviceId, Member>;
  readonly byName: ReadonlyMap<string, Member>;
}

export type MemberStanding = "member" | "revoked" | "quarantined" | "unknown";

/** Whether `id` may still talk to this node and write to the zone. */
export function standingOf(membership: Membership, id: DeviceId): MemberStanding {
  const member = membership.byId.get(id);
  if (!member) return "unknown";
  if (member.revokedAfterSeq !== undefined) return "revoked";
  return member.quarantined ? "quarantined" : "member";
}

/**
 * Refuses `act` ("move notes to gamma") on a device of the zone that is no member in good
 * standing: said as revoked or quarantined, not as no device (it is listed as such by
 * \`bucky devices\`, and its name stays taken). Nothing for a name the zone does not have.
 */
export function refuseOutcast(membership: Membership, name: string, act: string): void {
  const member = membership.byName.get(name);
  const standing = member ? standingOf(membership, member.id) : "unknown";
  if (standing === "revoked" || standing === "quarantined")
    throw new BuckyError(
      "E_INVALID_INPUT",
      `cannot ${act}: ${name} is ${standing}, no member of the zone in good standing`,
      "See the devices with `bucky devices`.",
    );
}

/** The names of the devices revoked or quarantined: no member in good standing, for good or until cleared. */
export function outcastNames(membership: Membership): Set<string> {
  const names = new Set<string>();
  for (const member of membership.byId.values())
    if (standingOf(membership, member.id) !== "member") names.add(member.name);
  return names;
}

/** The names of the members in good standing other than `self`: who may keep a copy for it. */
export function otherMemberNames(membership: Membership, self: string): Set<string> {
  const names = new Set<string>();
  for (const member of membership.byId.values())
    if (member.name !== self && standingOf(membership, member.id) === "member")
      names.add(member.name);
  return names;
}

/**
 * The state's rows under `devices/` (tombstones too), given [devices/, devices/DEL). Keys
 * are ASCII below DEL, so that is exactly those: a range the key's index answers, where
 * `LIKE 'devices/%'` (which ignores case, so no index serves it) read the whole state, at
 * every batch of a merge.
 */
export const DEVICE_ROWS_SQL = "SELECT key, value FROM state WHERE key >= ? AND key < ?";

export function deviceRows(db: StateReader): { key: string; value: string | null }[] {
  return sqliteOf(db)
    .query<{ key: string; value: string | null }, [string, string]>(DEVICE_ROWS_SQL)
    .all(DEVICES, `${DEVICES}\x7f`);
}

/**
 * `verified`: device documents this process verified already (openCheckedZone verifies
 * every one as it opens the zone); a row holding one of them, the same text for the same
 * zone, is not verified a second time.
 */
export function loadMembership(
  db: StateReader,
  zone: ZoneId,
  verified: readonly DeviceDocument[] = [],
): Membership {
  const rows = deviceRows(db);
  const held = sqliteOf(db).query<{ body: Uint8Array }, []>("SELECT body FROM checkpoint").get();
  return membershipFromRows(
    rows,
    zone,
    provenForks(db, zone),
    held ? frontierSeqs(decodeCheckpoint(new Uint8Array(held.body))) : new Map(),
    verified,
  );
}

/**
 * Membership from the `devices/…` rows of a state and the fork seqs of the equivocation
 * proofs held (`forks`, verified: lib/sync/held-proofs.ts). A revocation keeps the revoked
 * device's changesets up to its `lastSeq` and those the checkpoint held covers
 * (`frontier`: settled history, which nothing undoes); a quarantine refuses those from
 * the fork on and drops nothing. A proof never changes a revocation's cut: one of a fork
 * at or below it is said (`recutSeq`: the owner may revoke again, lower), one past it
 * changes nothing (the revocation set aside all of it). Either way the device is revoked
 * (standingOf), wherever the proof is held or not.
 */
export function membershipFromRows(
  rows: readonly { readonly key: string; readonly value: string | null }[],
  zone: ZoneId,
  forks: ReadonlyMap<string, number>,
  frontier: ReadonlyMap<string, number>,
  verified: readonly DeviceDocument[] = [],
): Membership {
  const known = new Map(verified.filter((doc) => doc.zone === zone).map((doc) => [doc.jws, doc]));
  const documents = new Map<string, string>();
  const revocations = new Map<string, string>();
  for (const { key, value } of rows) {
    const [top, name, field] = key.split("/");
    if (top !== "devices") continue;
    if (value === null || name === undefined) continue;
    if (field === "doc") documents.set(name, JSON.parse(value));
    if (field === "revoked") revocations.set(name, JSON.parse(value));
  }
  const byId = new Map<DeviceId, Member>();
  const byName = new Map<string, Member>();
  for (const [name, jws] of documents) {
    // Values were checked by the write rules when applied; verifying again costs little
    // and means a damaged database cannot make a stranger a member.
    const doc = known.get(jws) ?? verifyDeviceDocument(jws, zone);
    const revocationJws = revocations.get(name);
    const revocation =
      revocationJws === undefined ? undefined : verifyRevocation(revocationJws, zone);
    const settled = frontier.get(doc.id) ?? 0;
    // A revocation names the key it revokes: it does not carry over to a new device document.
    const revokedAfterSeq =
      revocation?.id === doc.id ? Math.max(revocation.lastSeq, settled) : undefined;
    const fork = forks.get(doc.id);
    // Past a revocation's cut a proof refuses nothing the revocation did not.
    const forkSeq =
      fork !== undefined && (revokedAfterSeq === undefined || fork <= revokedAfterSeq)
        ? fork
        : undefined;
    // What the owner signed decides what is kept of a revoked device: a proof never lowers
    // it (a thief holding the key could then drop what its device wrote, and the devices
    // it admitted, on every device). A fork within it is said, for the owner to cut again.
    const recut =
      revokedAfterSeq !== undefined && forkSeq !== undefined
        ? Math.max(forkSeq - 1, settled)
        : undefined;
    const member: Member = {
      id: doc.id,
      name: doc.name,
      admittedAtMs: doc.issuedAt * 1000,
      quarantined: forkSeq !== undefined,
      ...(revokedAfterSeq === undefined ? {} : { revokedAfterSeq }),
      ...(forkSeq === undefined ? {} : { forkSeq }),
      ...(recut !== undefined && revokedAfterSeq !== undefined && recut < revokedAfterSeq
        ? { recutSeq: recut }
        : {}),
      ...(revokedAfterSeq !== undefined
        ? { refusedFromSeq: revokedAfterSeq + 1 }
        : forkSeq !== undefined
          ? { refusedFromSeq: forkSeq }
          : {}),
    };
    byId.set(doc.id, member);
    byName.set(name, member);
  }
  return { byId, byName };
}
