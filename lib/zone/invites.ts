/**
 * Invitations issued by this device: a token the owner key signs, of which this device
 * keeps only a hash of the secret, an expiry and a number of uses left, under a mac made
 * with its seal (lib/state/seal.ts): a row written behind bucky's back admits no one.
 * What the zone sees of them (never the secret) is in the zone state, so every device
 * lists and revokes the zone's invitations alike (lib/zone/invite-records.ts).
 */
import { randomBytes } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Op } from "../../protocol/changeset.ts";
import { bytesEqual, toBase64url } from "../../protocol/encoding.ts";
import {
  hashInviteSecret,
  INVITE_ID_BYTES,
  INVITE_SECRET_BYTES,
  signInvite,
} from "../../protocol/invite.ts";
import type { ColumnValue } from "../../protocol/state-seal.ts";
import { BuckyError } from "../errors.ts";
import type { StateSeal } from "../state/seal.ts";
import { stateRowsMatching } from "../store/reads.ts";
import { invites } from "../store/schema.ts";
import {
  inviteRecordKey,
  inviteRecordValue,
  inviteRevocationKey,
  isInviteId,
  MAX_INVITE_USES,
  parseInviteFacts,
  revocationExpiresAt,
  revocationValue,
  revokersOf,
  type ZoneInvite,
  zoneInvites,
} from "./invite-records.ts";
import type { ZoneWriter } from "./zone-writer.ts";

/** The node as invitations need it: zone administration, and this device's name. */
export type InvitingZone = ZoneWriter & { readonly deviceName: string };

export const MAX_INVITE_TTL_MS = 30 * 24 * 3600 * 1000;
/** How long a revocation outlasts its invitation's end, in case the revoker's clock is ahead. */
const REVOCATION_OUTLASTS_MS = 24 * 3600 * 1000;

export interface IssuedInvite {
  readonly id: string;
  readonly token: string;
  readonly expiresAt: number;
  readonly uses: number;
  /** Whether a device joining with it is given the backup key (this device holds it, and may). */
  readonly givesBackupKey: boolean;
}

type InviteRow = typeof invites.$inferSelect;

/** The mac an invitation row must carry, for these column values. */
export function inviteMac(
  seal: StateSeal,
  row: Pick<
    InviteRow,
    "id" | "secretHash" | "createdAt" | "expiresAt" | "usesLeft" | "revokedAt" | "givesBackupKey"
  >,
): Buffer {
  const columns: ColumnValue[] = [
    row.id,
    new Uint8Array(row.secretHash),
    row.createdAt,
    row.expiresAt,
    row.usesLeft,
    row.revokedAt,
    // An invitation that withholds the backup key says so in its mac (one that gives it,
    // the default, has the mac of before): flipping it behind bucky's back is found.
    ...(row.givesBackupKey ? [] : [0]),
  ];
  return Buffer.from(seal.inviteMac(columns));
}

/** Whether this device wrote `row` as it is. */
export function sealedInvite(seal: StateSeal, row: InviteRow): boolean {
  return row.mac !== null && bytesEqual(new Uint8Array(row.mac), inviteMac(seal, row));
}

export function createInvite(
  zone: InvitingZone,
  options: { ttlMs: number; uses: number; givesBackupKey?: boolean },
): IssuedInvite {
  if (!(options.ttlMs > 0 && options.ttlMs <= MAX_INVITE_TTL_MS)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      "an invitation lasts from a second to 30 days",
      "For example: --ttl 1h",
    );
  }
  if (!(Number.isInteger(options.uses) && options.uses >= 1 && options.uses <= MAX_INVITE_USES)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `an invitation can be used 1 to ${MAX_INVITE_USES} times`,
      "For example: --uses 1",
    );
  }
  if (zone.addresses.length === 0) {
    throw new BuckyError(
      "E_UNAVAILABLE",
      "this device has no address other devices could reach",
      "Start the daemon listening on a network address (--listen).",
    );
  }
  const owner = zone.ownerKey();
  const id = inviteId();
  const secret = new Uint8Array(randomBytes(INVITE_SECRET_BYTES));
  const now = zone.now();
  const expiresAt = now + options.ttlMs;
  const token = signInvite(
    {
      inviter: zone.deviceId,
      id,
      secret,
      expiresAt: Math.floor(expiresAt / 1000),
      addresses: zone.addresses.slice(0, 16),
    },
    owner,
  );
  const row = {
    id,
    secretHash: Buffer.from(hashInviteSecret(secret)),
    createdAt: now,
    expiresAt,
    usesLeft: options.uses,
    revokedAt: null,
    givesBackupKey: options.givesBackupKey !== false,
  };
  zone.db
    .insert(invites)
    .values({ ...row, mac: inviteMac(zone.seal, row) })
    .run();
  // The zone sees it at once; an invitation it could not see is not made.
  try {
    zone.write([
      {
        key: inviteRecordKey(zone.deviceName, id),
        value: inviteRecordValue({
          createdAt: now,
          expiresAt,
          usesLeft: options.uses,
          givesBackupKey: row.givesBackupKey,
        }),
      },
      ...staleRecordOps(zone),
    ]);
  } catch (error) {
    zone.db.delete(invites).where(eq(invites.id, id)).run();
    throw error;
  }
  zone.log.info("invitation created", {
    id,
    uses: options.uses,
    expiresAt: new Date(expiresAt).toISOString(),
    backupKey: options.givesBackupKey !== false,
  });
  return {
    id,
    token,
    expiresAt,
    uses: options.uses,
    givesBackupKey: options.givesBackupKey !== false && zone.backupRoot() !== undefined,
  };
}

/** The zone's open invitations, the same on every device. */
export function listInvites(zone: InvitingZone): ZoneInvite[] {
  return zoneInvites(zone.db, zone.membership(), zone.now());
}

/**
 * Revokes the zone's invitation `id`, whichever device issued it: this device records
 * the revocation under its own key, and the issuer refuses the invitation as soon as
 * that reaches it. An invitation of this device is also marked revoked in its own row.
 */
export function revokeInvite(zone: InvitingZone, id: string): ZoneInvite {
  const open = isInviteId(id) ? listInvites(zone).find((invite) => invite.id === id) : undefined;
  const held = zone.db.select().from(invites).where(eq(invites.id, id)).get();
  if (!open) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `no open invitation ${id} in the zone`,
      "See them with `bucky invite list` (expired and used ones are not there).",
    );
  }
  const revokedAt = zone.now();
  if (held && held.revokedAt === null) {
    // An altered row is marked revoked too, but not sealed: it stays altered.
    const mac = sealedInvite(zone.seal, held)
      ? inviteMac(zone.seal, { ...held, revokedAt })
      : held.mac;
    zone.db.update(invites).set({ revokedAt, mac }).where(eq(invites.id, id)).run();
  }
  if (!open.revokedBy.includes(zone.deviceName)) {
    zone.write([
      {
        key: inviteRevocationKey(zone.deviceName, id),
        // As long as the invitation could last, whatever its record says (any member
        // writes records of its own, one of this id ending soon among them), and past its
        // end by its issuer's clock: this device's may run behind it, by any amount. That
        // end is a member's word too: no later than an invitation can last from its making
        // (one far off, past a safe number, read as 0, and the revocation went at once).
        value: revocationValue(
          revokedAt,
          Math.max(
            revokedAt + MAX_INVITE_TTL_MS,
            Math.min(
              open.expiresAt,
              open.createdAt + MAX_INVITE_TTL_MS,
              revokedAt + 2 * MAX_INVITE_TTL_MS,
            ) + REVOCATION_OUTLASTS_MS,
          ),
        ),
      },
      ...staleRecordOps(zone),
    ]);
    zone.log.info("invitation revoked", { id, inviter: open.inviter });
  }
  return (
    listInvites(zone).find((invite) => invite.id === id) ?? {
      ...open,
      status: "revoked",
      revokedBy: [...open.revokedBy, zone.deviceName],
    }
  );
}

/** Whether any device of the zone revoked this device's invitation `id`. */
export function revokedInZone(zone: InvitingZone, id: string): boolean {
  return revokersOf(zone.db, id).length > 0;
}

/**
 * The state ops that keep this device's records of invitations true: the record of an
 * invitation of its own that is used up or expired goes (revoked ones stay until they
 * expire, so every device sees them revoked), its revocations of invitations expired
 * since go, and one of its open invitations made before the zone saw them is recorded.
 */
export function staleRecordOps(zone: InvitingZone): Op[] {
  const now = zone.now();
  const ops: Op[] = [];
  const recorded = new Set<string>();
  for (const row of stateRowsMatching(zone.db, inviteRecordKey(zone.deviceName, "*"))) {
    if (row.value === null || row.key.split("/").length !== 4) continue;
    recorded.add(row.key);
    const facts = parseInviteFacts(row.value);
    if (!facts || facts.expiresAt <= now || facts.usesLeft <= 0)
      ops.push({ key: row.key, value: null });
  }
  for (const row of stateRowsMatching(zone.db, inviteRevocationKey(zone.deviceName, "*"))) {
    if (row.value === null || row.key.split("/").length !== 4) continue;
    if (revocationExpiresAt(row.value) <= now) ops.push({ key: row.key, value: null });
  }
  for (const row of zone.db.select().from(invites).all()) {
    const key = inviteRecordKey(zone.deviceName, row.id);
    if (recorded.has(key) || !isInviteId(row.id) || !sealedInvite(zone.seal, row)) continue;
    if (row.revokedAt !== null || row.usesLeft <= 0 || row.expiresAt <= now) continue;
    ops.push({
      key,
      value: inviteRecordValue({
        createdAt: row.createdAt,
        expiresAt: row.expiresAt,
        usesLeft: Math.min(row.usesLeft, MAX_INVITE_USES),
        givesBackupKey: row.givesBackupKey,
      }),
    });
  }
  return ops;
}

/** Brings this device's invitation records up to date (when the daemon starts). */
export function tidyInviteRecords(zone: InvitingZone): void {
  const ops = staleRecordOps(zone);
  if (ops.length === 0) return;
  zone.write(ops);
  zone.log.info("invitation records tidied", { count: ops.length });
}

/**
 * A fresh invitation id. People type it after `bucky invite revoke`, so it never starts
 * with "-", which would read as an option.
 */
function inviteId(): string {
  for (;;) {
    const id = toBase64url(randomBytes(INVITE_ID_BYTES));
    if (!id.startsWith("-")) return id;
  }
}
