/**
 * The owner's revocations a repository holds, wherever they are: in the zone state of every
 * snapshot of the zone, and in the changesets shipped hot. A home restore judges snapshots
 * with all of them, not only with those of the state it brings back: a revoked device that
 * kept the backup key can file a snapshot whose zone state leaves its own revocation out
 * (and make its snapshot the newest), but it cannot take the revocation out of the other
 * devices' snapshots, nor sign one in the owner's name. Each is checked against the zone's
 * owner key; what does not check out is passed over.
 *
 * Which states are read: a revocation stays in every later state of each device that
 * learnt it, so each device's newest snapshot it signed itself is enough (no other key can
 * sign a newer one in its name), or, of a device that signed none, its newest unsigned
 * one; the next older when one does not open. A zone state can be large, and a
 * repository holds scores of snapshots per device: reading every one would make a
 * disaster restore read gigabytes for nothing.
 */
import { decodeChangeset } from "../../protocol/changeset.ts";
import { type Revocation, verifyRevocation } from "../../protocol/documents.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { openStateDb } from "../store/db.ts";
import { deviceRows, type Member, type Membership } from "../sync/membership.ts";
import { type NamedSnapshot, SnapshotSignatures } from "./snapshot-trust.ts";
import type { StateImages } from "./state-images.ts";

/** States tried per device when its newest does not open. */
const STATES_TRIED_PER_DEVICE = 3;

/**
 * Every owner-signed revocation of `zone` in the zone states of each device's newest
 * snapshots among `snapshots` (each state read once, however many snapshots share it) and
 * in the hot changesets `hot`.
 */
export async function revocationsIn(
  snapshots: readonly NamedSnapshot[],
  hot: readonly Uint8Array[],
  zone: ZoneId,
  /** Where the states are restored (each once, shared with the rest of the restore). */
  images: StateImages,
  /** Signatures checked already against `zone`. */
  signatures: SnapshotSignatures = new SnapshotSignatures(zone),
): Promise<Revocation[]> {
  const found = new Map<string, Revocation>();
  const take = (key: string, value: string | null) => {
    const revocation = revocationOf(key, value, zone);
    if (revocation) found.set(revocation.jws, revocation);
  };
  const seen = new Set<string>();
  /** Reads one snapshot's state's revocations; whether it opened (or was read already). */
  const readState = async (entry: NamedSnapshot): Promise<boolean> => {
    let path: string | undefined;
    try {
      path = await images.pathOf(entry);
      if (path === undefined) return false;
      if (seen.has(path)) return true;
      const db = openStateDb(path, { create: false });
      try {
        for (const { key, value } of deviceRows(db)) take(key, value);
      } finally {
        db.$client.close();
      }
      seen.add(path);
      return true;
    } catch {
      // A state that does not open holds nothing to judge with: the next older is tried.
      return false;
    }
  };
  for (const newestFirst of statesToRead(snapshots, zone, signatures))
    for (const entry of newestFirst) if (await readState(entry)) break;
  for (const bytes of hot) {
    try {
      for (const op of decodeChangeset(bytes).ops) take(op.key, op.value);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
    }
  }
  return [...found.values()];
}

/**
 * Of each device, its newest snapshots it signed itself (its newest unsigned ones if it
 * signed none), newest first, a few.
 */
function statesToRead(
  snapshots: readonly NamedSnapshot[],
  zone: ZoneId,
  signatures: SnapshotSignatures,
): NamedSnapshot[][] {
  const byDevice = new Map<string, { signed: NamedSnapshot[]; unsigned: NamedSnapshot[] }>();
  for (const entry of snapshots) {
    if (entry.snapshot.zone !== zone) continue;
    const kind = signatures.of(entry).kind;
    if (kind === "forged") continue;
    const of = byDevice.get(entry.snapshot.device) ?? { signed: [], unsigned: [] };
    of[kind].push(entry);
    byDevice.set(entry.snapshot.device, of);
  }
  const newestFirst = (a: NamedSnapshot, b: NamedSnapshot) =>
    compareCodeUnits(b.snapshot.time, a.snapshot.time);
  return [...byDevice.values()].map(({ signed, unsigned }) =>
    (signed.length > 0 ? signed : unsigned).sort(newestFirst).slice(0, STATES_TRIED_PER_DEVICE),
  );
}

/** `membership`, with each device that one of `revocations` revokes revoked. */
export function withRevocations(
  membership: Membership,
  revocations: readonly Revocation[],
): Membership {
  const byId = new Map(membership.byId);
  for (const revocation of revocations) {
    const member = byId.get(revocation.id);
    if (!member) continue;
    const revokedAfterSeq = Math.min(
      member.revokedAfterSeq ?? Number.MAX_SAFE_INTEGER,
      revocation.lastSeq,
    );
    byId.set(revocation.id, { ...member, revokedAfterSeq });
  }
  const byName = new Map<string, Member>();
  for (const [name, member] of membership.byName) byName.set(name, byId.get(member.id) ?? member);
  return { byId, byName };
}

/** The revocation a state row (or a changeset's op) holds, if it is the owner's, of `zone`. */
function revocationOf(key: string, value: string | null, zone: ZoneId): Revocation | undefined {
  const [top, , field, more] = key.split("/");
  if (top !== "devices" || field !== "revoked" || more !== undefined || value === null)
    return undefined;
  try {
    const jws: unknown = JSON.parse(value);
    return typeof jws === "string" ? verifyRevocation(jws, zone) : undefined;
  } catch {
    return undefined;
  }
}
