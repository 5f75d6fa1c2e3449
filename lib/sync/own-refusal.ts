/**
 * Whether every device refuses what this device writes, the one answer for its local
 * writes (lib/state/feed.ts) and its daemon's background work (NodeContext): a proof of
 * its own fork is held (lib/sync/held-proofs.ts). It is then quarantined from the fork
 * on, or, where the owner revoked it too, revoked (whatever the proof's seq: past the
 * revocation's cut it changes nothing, and the device is no member either way).
 */
import { decodeCheckpoint, frontierSeqs } from "../../protocol/checkpoint.ts";
import type { DeviceId, ZoneId } from "../../protocol/ids.ts";
import { type StateReader, sqliteOf } from "../store/reads.ts";
import { provenFork } from "./held-proofs.ts";
import { type Membership, membershipFromRows } from "./membership.ts";

export type OwnRefusal =
  | { readonly kind: "quarantined"; readonly fromSeq: number }
  | { readonly kind: "revoked"; readonly keptSeq: number };

/**
 * This device's refusal, if any. Cheap when none: one row of the quarantine table (none
 * at all when no proof of it is held). `membership`, when given, is the zone's as held
 * now; else only this device's own rows are read.
 */
export function ownRefusal(
  db: StateReader,
  zone: ZoneId,
  self: { readonly id: DeviceId; readonly name: string },
  membership?: Membership,
): OwnRefusal | undefined {
  const fork = provenFork(db, zone, self.id);
  if (fork === undefined) return undefined;
  const member = (membership ?? ownMembership(db, zone, self, fork)).byId.get(self.id);
  if (member?.revokedAfterSeq !== undefined)
    return { kind: "revoked", keptSeq: member.revokedAfterSeq };
  return { kind: "quarantined", fromSeq: member?.forkSeq ?? fork };
}

/** Membership from this device's own rows alone, and the checkpoint's frontier. */
function ownMembership(
  db: StateReader,
  zone: ZoneId,
  self: { readonly id: DeviceId; readonly name: string },
  fork: number,
): Membership {
  const sqlite = sqliteOf(db);
  const rows = sqlite
    .query<{ key: string; value: string | null }, [string, string]>(
      "SELECT key, value FROM state WHERE key IN (?1, ?2)",
    )
    .all(`devices/${self.name}/doc`, `devices/${self.name}/revoked`);
  const held = sqlite.query<{ body: Uint8Array }, []>("SELECT body FROM checkpoint").get();
  const frontier = held ? frontierSeqs(decodeCheckpoint(new Uint8Array(held.body))) : new Map();
  return membershipFromRows(rows, zone, new Map([[self.id, fork]]), frontier);
}
