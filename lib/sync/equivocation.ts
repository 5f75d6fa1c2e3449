/**
 * Equivocation proofs as this node holds them: one per device caught signing two different
 * changesets after the same one (a fork point: protocol/equivocation.ts), in the
 * `quarantine` table, which quarantines it (lib/sync/membership.ts). A proof is passed on
 * to peers that lack it, and one a peer sends is checked with the author's key alone:
 * every device quarantines the device, not only the one where both halves met. Of two
 * proofs of a device, the one of the lower seq is kept, so every device ends holding the
 * same one and says the same of it.
 *
 * A quarantine is a refusal, the same on every device whatever order things arrive in:
 * what the device signed from the fork on is neither taken nor passed on, what it signed
 * below is taken in any order, and nothing is dropped (what a device applied past the
 * fork before the proof reached it stays until a later write to the same key replaces
 * it): a drop would let a stolen device erase its own history, its admissions and the
 * zone's founding changeset with them, on every device, by signing a second one. A proof
 * of a fork past a revocation's cut changes nothing: it is kept and named to peers (so
 * they do not send it again), not passed on.
 */
import { verifyKeyFromPublicKey } from "../../protocol/ed25519.ts";
import {
  decodeProof,
  type EquivocationProof,
  makeProof,
  verifyProof,
} from "../../protocol/equivocation.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, publicKeyOfId, type ZoneId } from "../../protocol/ids.ts";
import { PAGE_BYTES, type VersionVector } from "../../protocol/sync-messages.ts";
import type { Log } from "../log.ts";
import type { StateSeal } from "../state/seal.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { provenFork, provenForks } from "./held-proofs.ts";
import { loadMembership, type Membership } from "./membership.ts";

/**
 * Keeps a proof of `proof.device` unless one of a seq as low is held that verifies:
 * whether it was kept. A row of that device that does not verify (the table is not sealed:
 * lib/sync/held-proofs.ts) counts for nothing and blocks nothing: it is replaced. The
 * halves are stored in the proof's order (`kept`, `conflicting`).
 */
export function keepProof(db: StateDb, proof: EquivocationProof, nowMs: number): boolean {
  const [a, b] = proof.halves;
  const sqlite = sqliteOf(db);
  if (provenFork(db, proof.zone, proof.device) === undefined)
    sqlite.query("DELETE FROM quarantine WHERE device_id = ?").run(proof.device);
  const kept = sqlite
    .query<{ device_id: string }, [string, number, number, Uint8Array, Uint8Array]>(
      `INSERT INTO quarantine (device_id, seq, detected_at, kept, conflicting) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET seq = excluded.seq, detected_at = excluded.detected_at,
         kept = excluded.kept, conflicting = excluded.conflicting
       WHERE excluded.seq < quarantine.seq
       RETURNING device_id`,
    )
    .all(proof.device, proof.seq, nowMs, a.bytes, b.bytes);
  return kept.length > 0;
}

/**
 * The devices quarantined, each with the seq of its proof. A proof of a device past its
 * revocation's cut, or of one no longer a member, is not in effect: it is not passed on.
 */
export function proofsVector(membership: Membership): Map<DeviceId, number> {
  const vector = new Map<DeviceId, number>();
  for (const member of membership.byId.values())
    if (member.forkSeq !== undefined) vector.set(member.id, member.forkSeq);
  return vector;
}

/**
 * Of each author, the seq from which none of its changesets is sent to a peer: where this
 * device refuses them (a quarantine's fork, a revocation's cut), and from the fork of a
 * proof the peer says it holds (`theirs`), but of a device revoked here, whose revocation
 * alone decides what is kept: what it keeps goes to every device, proof or not (a fork
 * within it is the owner's to cut: membership.ts).
 */
export function withheldFrom(
  membership: Membership,
  theirs: ReadonlyMap<DeviceId, number> | undefined,
): Map<DeviceId, number> {
  const withheld = new Map<DeviceId, number>();
  for (const member of membership.byId.values())
    if (member.refusedFromSeq !== undefined) withheld.set(member.id, member.refusedFromSeq);
  for (const [author, seq] of theirs ?? []) {
    if (membership.byId.get(author)?.revokedAfterSeq !== undefined) continue;
    withheld.set(author, Math.min(seq, withheld.get(author) ?? Number.POSITIVE_INFINITY));
  }
  return withheld;
}

/**
 * Of each author, the seq from which its fork is known to this device or the peer (`theirs`:
 * the proofs it says it holds): a changeset there that differs from the peer's is not sent
 * as half of a proof (exchange.ts differingHeads), which either side holds already.
 */
export function forksKnown(
  membership: Membership,
  theirs: ReadonlyMap<DeviceId, number> | undefined,
): Map<DeviceId, number> {
  const known = proofsVector(membership);
  for (const [author, seq] of theirs ?? [])
    known.set(author, Math.min(seq, known.get(author) ?? Number.POSITIVE_INFINITY));
  return known;
}

/**
 * Every proof held that verifies, in effect or not, each device with its seq: what to tell
 * a peer this node has, so that it does not send again one this node holds without effect
 * (past a revocation's cut, as this device's checkpoint has it).
 */
export function proofsNamed(db: StateReader, zone: ZoneId): Map<DeviceId, number> {
  return provenForks(db, zone);
}

/**
 * The proofs in effect that `theirs` lacks (no proof of the device, or one of a higher
 * seq), up to a page's bytes: the rest go with the next exchange.
 */
export function proofsLacking(
  db: StateReader,
  membership: Membership,
  theirs: VersionVector,
  /** Only the proof of this device (one asking of its own quarantine). */
  only?: DeviceId,
): Uint8Array[] {
  const inEffect = proofsVector(membership);
  const rows = sqliteOf(db)
    .query<{ device: string; seq: number; kept: Uint8Array; conflicting: Uint8Array }, []>(
      "SELECT device_id AS device, seq, kept, conflicting FROM quarantine ORDER BY device_id",
    )
    .all();
  const proofs: Uint8Array[] = [];
  let size = 0;
  for (const row of rows) {
    if (only !== undefined && row.device !== only) continue;
    if (inEffect.get(row.device as DeviceId) !== row.seq) continue;
    if (row.seq >= (theirs.get(row.device as DeviceId) ?? Number.POSITIVE_INFINITY)) continue;
    try {
      const proof = makeProof(new Uint8Array(row.kept), new Uint8Array(row.conflicting)).bytes;
      if (proofs.length > 0 && size + proof.length > PAGE_BYTES) break;
      proofs.push(proof);
      size += proof.length;
    } catch (error) {
      // A row that is no proof is not passed on: the receiver would refuse it anyway.
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return proofs;
}

/** The most proofs of one author checked in a message: each costs two signature checks. */
const MAX_TRIED_PER_AUTHOR = 16;

/**
 * Takes the proofs a peer sent (or this device formed: lib/sync/fork-search.ts): each a
 * fork point of a member of this zone (`membership`, as this device holds it), both halves
 * signed by its key, of a seq lower than any proof held of it. Those are kept, and each
 * not past its device's revocation's cut quarantines it (said once, as an error): its
 * changesets from the fork on are refused from then on, none dropped. Of a device the
 * owner revoked, a proof at or below the revocation's cut changes no cut and drops
 * nothing (a thief holding the key could sign one): it is news all the same, said on
 * every device for the owner to revoke it again, before the fork (lib/sync/membership.ts).
 * One proof an author is kept from a message at most: the lowest seq's that verifies
 * (a forged one does not hide a good one above it). What is cheap is checked first (zone,
 * member, seq), then the signatures, outside the write lock, lowest seq first, a few
 * proofs an author at most: the write lock holds only the inserts and drops. Returns how
 * many devices whose proof is now in effect here (quarantined, or revoked from the fork
 * on): membership changed if any.
 */
export function receiveProofs(
  db: StateDb,
  records: readonly Uint8Array[],
  context: {
    zone: ZoneId;
    nowMs: number;
    log: Log;
    source: string;
    /** The seal over this device's state, kept up to date by a drop. */
    seal: StateSeal;
    /** Who is a member, as this device holds it now (read here when not given). */
    membership?: Membership;
  },
): number {
  const membership = context.membership ?? loadMembership(db, context.zone);
  const held = provenForks(db, context.zone);
  const byAuthor = new Map<DeviceId, EquivocationProof[]>();
  for (const bytes of records) {
    try {
      const proof = decodeProof(bytes);
      if (proof.zone !== context.zone || !membership.byId.has(proof.device)) continue;
      if (proof.seq >= (held.get(proof.device) ?? Number.POSITIVE_INFINITY)) continue;
      const candidates = byAuthor.get(proof.device) ?? [];
      candidates.push(proof);
      byAuthor.set(proof.device, candidates);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  const valid: EquivocationProof[] = [];
  for (const candidates of byAuthor.values()) {
    const proof = lowestVerified(candidates);
    if (proof) valid.push(proof);
  }
  if (valid.length === 0) return 0;
  const changed = db.transaction(() => {
    const kept = valid.filter((proof) => keepProof(db, proof, context.nowMs));
    // A proof of a member not revoked quarantines it; of one revoked, within what its
    // revocation keeps, it is said for the owner to cut again (membership.ts): it drops
    // nothing, only the owner's signature does. Past the cut it is kept, no news.
    const revoked = (proof: EquivocationProof) =>
      membership.byId.get(proof.device)?.revokedAfterSeq !== undefined;
    if (!kept.some(revoked)) return kept;
    const now = loadMembership(db, context.zone);
    return kept.filter(
      (proof) => !revoked(proof) || now.byId.get(proof.device)?.forkSeq !== undefined,
    );
  }, IMMEDIATE);
  for (const proof of changed) {
    const member = membership.byId.get(proof.device);
    context.log.error(
      member?.revokedAfterSeq === undefined
        ? "device quarantined: it signed two different changesets after the same one (a peer's proof)"
        : "revoked device proven to have signed two different changesets after the same one, within what its revocation keeps: nothing is dropped until the owner revokes it again (a peer's proof)",
      { device: member?.name, seq: proof.seq, from: context.source },
    );
  }
  return changed.length;
}

/**
 * The lowest-seq proof of `candidates` (one author's) whose signatures verify, if any:
 * MAX_TRIED_PER_AUTHOR tried at most.
 */
function lowestVerified(candidates: EquivocationProof[]): EquivocationProof | undefined {
  const ordered = [...candidates].sort((x, y) => x.seq - y.seq);
  for (const proof of ordered.slice(0, MAX_TRIED_PER_AUTHOR)) {
    try {
      verifyProof(
        proof,
        verifyKeyFromPublicKey(publicKeyOfId(proof.device, "device") as Uint8Array),
      );
      return proof;
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return undefined;
}
