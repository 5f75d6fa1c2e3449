/**
 * The devices quarantined, as `bucky status` says them: read from membership alone, so
 * status's path with no node running loads nothing of the store (no drizzle).
 */
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { listInSentence } from "../sentence.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import type { Membership } from "./membership.ts";

/**
 * A device quarantined, for `bucky status`: who, and the seq its histories part at (every
 * device refuses its changesets from there on).
 */
export interface QuarantineNote {
  readonly device: string;
  readonly seq: number;
}

/**
 * The devices quarantined and not revoked, by name, for `bucky status`: the same wherever
 * the proof is.
 */
export function quarantineNotes(membership: Membership): QuarantineNote[] {
  const notes: QuarantineNote[] = [];
  for (const member of membership.byId.values()) {
    // A device revoked since needs nothing more of the owner.
    if (member.forkSeq === undefined || member.revokedAfterSeq !== undefined) continue;
    notes.push({ device: member.name, seq: member.forkSeq });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}

/**
 * A device revoked, then proven to have signed two histories within what its revocation
 * keeps (at `seq`): devices may hold either history there (a thief's second one too) until
 * the owner revokes it again, keeping #1 to `recutSeq` (0: it parts at its first change,
 * which no revocation cuts below). That drops what it wrote past it on every device, and
 * the devices whose admission was written there (`admitted`, by name).
 */
export interface RevokedForkNote {
  readonly device: string;
  readonly keptSeq: number;
  readonly seq: number;
  readonly recutSeq: number;
  readonly admitted: readonly string[];
}

/** The revoked devices proven to fork within what their revocation keeps, by name. */
export function revokedForkNotes(db: StateReader, membership: Membership): RevokedForkNote[] {
  const documents = sqliteOf(db).query<{ key: string }, [string, number]>(
    "SELECT key FROM state WHERE key >= 'devices/' AND key < 'devices/\x7f' AND key GLOB 'devices/*/doc' AND value IS NOT NULL AND author = ?1 AND seq > ?2",
  );
  const notes: RevokedForkNote[] = [];
  for (const member of membership.byId.values()) {
    const { revokedAfterSeq, forkSeq, recutSeq } = member;
    if (revokedAfterSeq === undefined || forkSeq === undefined || recutSeq === undefined) continue;
    const admitted = documents
      .all(member.id, recutSeq)
      .map(({ key }) => key.split("/")[1] ?? key)
      .sort(compareCodeUnits);
    notes.push({ device: member.name, keptSeq: revokedAfterSeq, seq: forkSeq, recutSeq, admitted });
  }
  return notes.sort((a, b) => compareCodeUnits(a.device, b.device));
}

/** A revoked device proven to fork within what its revocation keeps, in English. */
export function describeRevokedFork(note: RevokedForkNote): string {
  const { device, keptSeq, seq, recutSeq, admitted } = note;
  if (recutSeq < 1)
    return `device ${device} was revoked keeping #1–#${keptSeq}, but its history parts at #1 (two different first changesets): no revocation can keep less; each device keeps what it holds of it`;
  const also =
    admitted.length === 0
      ? ""
      : `, including the devices it admitted then: ${listInSentence(admitted)}, which must be invited again`;
  return `device ${device} was revoked keeping #1–#${keptSeq}, but its history parts at #${seq}: revoke it again (\`bucky devices revoke ${device}\` on a device holding the owner key) to keep #1–#${recutSeq}; this drops what it wrote from #${recutSeq + 1} on, on every device${also}`;
}
