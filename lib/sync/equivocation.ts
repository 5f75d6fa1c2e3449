/**
 * Equivocation proofs as this node holds them: one per device caught signing two different
 * changesets after the same one (a fork point: protocol/equivocation.ts), in the
 * `quarantine` table, which quarantines it (lib/sync/membership.ts). A proof is passed on
 * to peers that lack it, and one a peer sends is checked with the author's key alone:
 * every device quarantines the device, not only the one where both halves met. Of two
 * proofs of a device, the one of the lower seq is kept, so every device ends holding the
 * same one and says the same of it.
 *
 * A quarantine is a cut, the same on every device whatever order things arrive in: what
 * the device signed from the fork on is set aside (dropped where applied, never taken or
 * passed on), what it signed below is kept and taken in any order. An adopted checkpoint
 * bounds the cut (membership), and a proof of a fork past a revocation's cut changes
 * nothing: it is not kept, not passed on.
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
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { Log } from "../log.ts";
import type { StateSeal } from "../state/seal.ts";
import { IMMEDIATE, type StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { dropPastCut } from "./cut.ts";
import { loadMembership, type Membership } from "./membership.ts";

/**
 * A device quarantined, for `bucky status`: who, the seq its histories part at, and the
 * last seq of it the zone keeps (below the fork, or the adopted checkpoint's frontier).
 */
export interface QuarantineNote {
  readonly device: string;
  readonly seq: number;
  readonly keptThroughSeq: number;
}

/**
 * Keeps a proof of `proof.device` unless one of a seq as low is held: whether it was kept.
 * The halves are stored in the proof's order (`kept`, `conflicting`).
 */
export function keepProof(db: StateDb, proof: EquivocationProof, nowMs: number): boolean {
  const [a, b] = proof.halves;
  const kept = sqliteOf(db)
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
 * The devices quarantined, each with the seq of its proof: what to tell a peer this node
 * has. A proof of a device past its revocation's cut, or of one no longer a member, is
 * not in effect: it is not named, nor passed on.
 */
export function proofsVector(membership: Membership): Map<DeviceId, number> {
  const vector = new Map<DeviceId, number>();
  for (const member of membership.byId.values())
    if (member.forkSeq !== undefined) vector.set(member.id, member.forkSeq);
  return vector;
}

/**
 * The proofs in effect that `theirs` lacks (no proof of the device, or one of a higher
 * seq), up to a page's bytes: the rest go with the next exchange.
 */
export function proofsLacking(
  db: StateReader,
  membership: Membership,
  theirs: VersionVector,
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

/**
 * Takes the proofs a peer sent (or this device formed: lib/sync/fork-search.ts): each a
 * fork point of a member of this zone, both halves signed by its key, of a seq lower than
 * any proof held of it and not past its revocation's cut. Those are kept, and each
 * quarantines its device (said once, as an error), dropping what it signed past the cut
 * in the same transaction. Returns how many were kept: membership changed if any.
 */
export function receiveProofs(
  db: StateDb,
  records: readonly Uint8Array[],
  context: {
    zone: ZoneId;
    nowMs: number;
    log: Log;
    source: string;
    seal: StateSeal;
  },
): number {
  // Checked before the write lock is taken: a signature costs more than the write.
  const valid: EquivocationProof[] = [];
  for (const bytes of records) {
    try {
      const proof = decodeProof(bytes);
      if (proof.zone !== context.zone) continue;
      verifyProof(
        proof,
        verifyKeyFromPublicKey(publicKeyOfId(proof.device, "device") as Uint8Array),
      );
      valid.push(proof);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  if (valid.length === 0) return 0;
  let kept = 0;
  db.transaction(() => {
    const tally = context.seal.tally(db.$client);
    for (const proof of valid) {
      const member = loadMembership(db, context.zone).byId.get(proof.device);
      if (!member) continue;
      if (member.forkSeq !== undefined && proof.seq >= member.forkSeq) continue;
      // Past a revocation's cut a fork sets aside nothing more: the proof is no news.
      if (member.revokedAfterSeq !== undefined && proof.seq > member.revokedAfterSeq) continue;
      if (!keepProof(db, proof, context.nowMs)) continue;
      kept++;
      context.log.error(
        "device quarantined: it signed two different changesets after the same one (a peer's proof)",
        { device: member.name, seq: proof.seq, from: context.source },
      );
      const now = loadMembership(db, context.zone).byId.get(proof.device);
      if (now)
        dropPastCut(db, tally, now, {
          log: context.log,
          membership: () => loadMembership(db, context.zone),
        });
    }
    tally.save();
  }, IMMEDIATE);
  return kept;
}

/** The devices quarantined, by name, for `bucky status`: the same wherever the proof is. */
export function quarantineNotes(membership: Membership): QuarantineNote[] {
  const notes: QuarantineNote[] = [];
  for (const member of membership.byId.values()) {
    if (member.forkSeq === undefined || member.keptThroughSeq === undefined) continue;
    notes.push({ device: member.name, seq: member.forkSeq, keptThroughSeq: member.keptThroughSeq });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}
