/**
 * Equivocation proofs as this node holds them: one per device caught signing two different
 * changesets with the same seq (the `quarantine` table), which quarantines it
 * (lib/sync/membership.ts). A proof is passed on to peers that lack it, and one a peer
 * sends is checked with the author's key alone: every device quarantines the device, not
 * only the one where both halves met. Of two proofs of a device, the one of the lower seq
 * is kept, so every device ends holding the same one and says the same of it.
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
import type { StateDb } from "../store/db.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import type { Membership } from "./membership.ts";

/** A device quarantined here, for `bucky status`: who, and the seq it signed twice. */
export interface QuarantineNote {
  readonly device: string;
  readonly seq: number;
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

/** The devices a proof is held of, each with its seq: what to tell a peer this node has. */
export function proofsVector(db: StateReader): Map<DeviceId, number> {
  return new Map(
    sqliteOf(db)
      .query<{ device: string; seq: number }, []>("SELECT device_id AS device, seq FROM quarantine")
      .all()
      .map((row) => [row.device as DeviceId, row.seq]),
  );
}

/**
 * The proofs held that `theirs` lacks (no proof of the device, or one of a higher seq),
 * up to a page's bytes: the rest go with the next exchange.
 */
export function proofsLacking(db: StateReader, theirs: VersionVector): Uint8Array[] {
  const rows = sqliteOf(db)
    .query<{ device: string; seq: number; kept: Uint8Array; conflicting: Uint8Array }, []>(
      "SELECT device_id AS device, seq, kept, conflicting FROM quarantine ORDER BY device_id",
    )
    .all();
  const proofs: Uint8Array[] = [];
  let size = 0;
  for (const row of rows) {
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
 * Takes the proofs a peer sent: each of a member of this zone, both halves signed by its
 * key, of a seq lower than any proof held of it. Those are kept, and each quarantines its
 * device (said once, as an error). Returns how many were kept: membership changed if any.
 */
export function receiveProofs(
  db: StateDb,
  records: readonly Uint8Array[],
  context: {
    zone: ZoneId;
    membership: Membership;
    nowMs: number;
    log: Log;
    source: string;
  },
): number {
  let kept = 0;
  const held = proofsVector(db);
  for (const bytes of records) {
    try {
      const proof = decodeProof(bytes);
      if (proof.seq >= (held.get(proof.device) ?? Number.POSITIVE_INFINITY)) continue;
      if (proof.zone !== context.zone) continue;
      const member = context.membership.byId.get(proof.device);
      if (!member) continue;
      verifyProof(
        proof,
        verifyKeyFromPublicKey(publicKeyOfId(proof.device, "device") as Uint8Array),
      );
      if (!keepProof(db, proof, context.nowMs)) continue;
      kept++;
      held.set(proof.device, proof.seq);
      context.log.error(
        "device quarantined: it signed two different changesets with the same seq (a peer's proof)",
        { device: member.name, seq: proof.seq, from: context.source },
      );
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return kept;
}

/** The devices quarantined here, by name, for `bucky status`. */
export function quarantineNotes(db: StateReader, membership: Membership): QuarantineNote[] {
  const notes: QuarantineNote[] = [];
  for (const [device, seq] of proofsVector(db)) {
    const member = membership.byId.get(device);
    if (member?.quarantined) notes.push({ device: member.name, seq });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}
