/**
 * The zone's open invitations, seen alike from every device. An invitation's secret stays
 * on the device that issued it (lib/zone/invites.ts), which alone can admit a device with
 * it; what the zone needs to see of it, never anything that lets someone join, is
 * recorded in the zone state under that device's key, which only it may write
 * (protocol/write-rules.ts):
 *
 * - `nodes/<issuer>/invites/<id>`: when it was made and expires, the uses left, whether
 *   it gives the backup key. The issuer updates it at each join, deletes it once used up,
 *   and deletes its expired ones (when it starts, and at its next invitation).
 * - `nodes/<revoker>/invite-revocations/<id>`: any member's revocation, under its own key,
 *   so no other device can take it back. The issuer refuses a join with an invitation
 *   any device revoked, as soon as the revocation reaches it (a sync round); the revoker
 *   deletes its record once the invitation has expired anyway.
 */
import { fromBase64url } from "../../protocol/encoding.ts";
import { INVITE_ID_BYTES } from "../../protocol/invite.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import { parsedValue, type StateReader, stateRowsMatching } from "../store/reads.ts";
import { type Membership, standingOf } from "../sync/membership.ts";

/** The most devices one invitation may admit. */
export const MAX_INVITE_USES = 100;

/** An open invitation of the zone, as every device sees it. */
export interface ZoneInvite {
  readonly id: string;
  /** The device that issued it: the only one that can admit a device with it (it must be online). */
  readonly inviter: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usesLeft: number;
  readonly givesBackupKey: boolean;
  readonly status: "active" | "revoked";
  /** The devices that revoked it, by name. */
  readonly revokedBy: readonly string[];
}

/** What the issuer records of one of its invitations. */
export interface InviteFacts {
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usesLeft: number;
  readonly givesBackupKey: boolean;
}

export const inviteRecordKey = (issuer: string, id: string) => `nodes/${issuer}/invites/${id}`;
export const inviteRevocationKey = (revoker: string, id: string) =>
  `nodes/${revoker}/invite-revocations/${id}`;

export function inviteRecordValue(facts: InviteFacts): string {
  return JSON.stringify({ v: 1, ...facts });
}

export function revocationValue(revokedAt: number, expiresAt: number): string {
  return JSON.stringify({ v: 1, revokedAt, expiresAt });
}

/** Whether `id` is spelled as an invitation id (so it may go into a key or a pattern). */
export function isInviteId(id: string): boolean {
  return /^[A-Za-z0-9_-]{22}$/.test(id) && fromBase64url(id)?.length === INVITE_ID_BYTES;
}

/** A record a member wrote, read with its shape checked; undefined when it has none. */
export function parseInviteFacts(text: string | null): InviteFacts | undefined {
  const value = parsedValue(text);
  if (typeof value !== "object" || value === null) return undefined;
  const { v, createdAt, expiresAt, usesLeft, givesBackupKey } = value as Record<string, unknown>;
  if (v !== 1 || !isTime(createdAt) || !isTime(expiresAt) || typeof givesBackupKey !== "boolean")
    return undefined;
  if (!(Number.isInteger(usesLeft) && (usesLeft as number) >= 0)) return undefined;
  if ((usesLeft as number) > MAX_INVITE_USES) return undefined;
  return { createdAt, expiresAt, usesLeft: usesLeft as number, givesBackupKey };
}

/** When a revocation's invitation expires: 0 (gone) for a record of no known shape. */
export function revocationExpiresAt(text: string | null): number {
  const value = parsedValue(text);
  if (typeof value !== "object" || value === null) return 0;
  const { expiresAt } = value as Record<string, unknown>;
  return isTime(expiresAt) ? expiresAt : 0;
}

/** The names of the devices that revoked invitation `id` (any that wrote one counts). */
export function revokersOf(db: StateReader, id: string): string[] {
  if (!isInviteId(id)) return [];
  return stateRowsMatching(db, inviteRevocationKey("*", id))
    .filter((row) => row.value !== null)
    .map((row) => row.key.split("/"))
    .filter((parts) => parts.length === 4)
    .map((parts) => parts[1] as string)
    .sort(compareCodeUnits);
}

/**
 * The zone's open invitations (not expired, not used up), newest first: those of devices
 * that are members in good standing, which alone could admit anyone.
 */
export function zoneInvites(db: StateReader, membership: Membership, now: number): ZoneInvite[] {
  const revokers = new Map<string, string[]>();
  for (const row of stateRowsMatching(db, inviteRevocationKey("*", "*"))) {
    const parts = row.key.split("/");
    if (row.value === null || parts.length !== 4) continue;
    const id = parts[3] as string;
    revokers.set(id, [...(revokers.get(id) ?? []), parts[1] as string]);
  }
  const open: ZoneInvite[] = [];
  for (const row of stateRowsMatching(db, inviteRecordKey("*", "*"))) {
    const parts = row.key.split("/");
    if (parts.length !== 4) continue;
    const [, inviter, , id] = parts as [string, string, string, string];
    const member = membership.byName.get(inviter);
    if (!member || standingOf(membership, member.id) !== "member" || !isInviteId(id)) continue;
    const facts = parseInviteFacts(row.value);
    if (!facts || facts.expiresAt <= now || facts.usesLeft <= 0) continue;
    const revokedBy = (revokers.get(id) ?? []).sort(compareCodeUnits);
    open.push({
      id,
      inviter,
      ...facts,
      status: revokedBy.length > 0 ? "revoked" : "active",
      revokedBy,
    });
  }
  return open.sort(
    (a, b) =>
      b.createdAt - a.createdAt ||
      compareCodeUnits(a.inviter, b.inviter) ||
      compareCodeUnits(a.id, b.id),
  );
}

function isTime(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
