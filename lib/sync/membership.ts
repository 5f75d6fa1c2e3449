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
   * Set when revoked or quarantined: the lowest seq of its changesets no device takes, the
   * lower of the revocation's (past `revokedAfterSeq`, which alone drops what is held past
   * it: lib/sync/cut.ts) and the quarantine's (`forkSeq`). Below it, any is taken in any order.
   */
  readonly refusedFromSeq?: number;
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
 * the fork on and drops nothing. A proof of a fork at or below a revocation's cut lowers
 * the cut to before the fork (revocationCut); one past it changes nothing (the revocation
 * set aside all of it). Either way the device is revoked (standingOf), wherever the proof
 * is held or not.
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
    const signedCut = revocation?.id === doc.id ? Math.max(revocation.lastSeq, settled) : undefined;
    const fork = forks.get(doc.id);
    const forkSeq =
      fork !== undefined && (signedCut === undefined || fork <= signedCut) ? fork : undefined;
    const revokedAfterSeq = revocationCut(signedCut, forkSeq, settled);
    const refusals = [
      ...(revokedAfterSeq === undefined ? [] : [revokedAfterSeq + 1]),
      ...(forkSeq === undefined ? [] : [forkSeq]),
    ];
    const member: Member = {
      id: doc.id,
      name: doc.name,
      admittedAtMs: doc.issuedAt * 1000,
      quarantined: forkSeq !== undefined,
      ...(revokedAfterSeq === undefined ? {} : { revokedAfterSeq }),
      ...(forkSeq === undefined ? {} : { forkSeq }),
      ...(refusals.length === 0 ? {} : { refusedFromSeq: Math.min(...refusals) }),
    };
    byId.set(doc.id, member);
    byName.set(name, member);
  }
  return { byId, byName };
}

/**
 * The cut of a revoked device (`signedCut`: its revocation's `lastSeq`, or the checkpoint's
 * frontier past it) once a proof of its fork at `forkSeq` is held, at or below that cut:
 * the seq before the fork, or the frontier, whichever is later (settled history is never
 * undone). The revoker may have signed before the proof reached it, each device holding
 * its own history past the fork: both are dropped, on every device, whichever it heard of
 * first, as the revoker would have cut had it known (lib/zone/zone-head.ts). Only the owner
 * makes a device revoked, so a proof alone drops nothing of a member. A fork at #1 keeps
 * the cut signed: a cut keeping nothing of the device would drop the admissions it wrote
 * (the zone's founding changeset, for its founder).
 */
function revocationCut(
  signedCut: number | undefined,
  forkSeq: number | undefined,
  settled: number,
): number | undefined {
  if (signedCut === undefined || forkSeq === undefined || forkSeq < 2) return signedCut;
  return Math.max(forkSeq - 1, settled);
}
