/**
 * Invitations issued by this device: a token the owner key signs, of which this device
 * keeps only a hash of the secret, an expiry and a number of uses left, under a mac made
 * with its seal (lib/state/seal.ts): a row written behind bucky's back admits no one.
 */
import { randomBytes } from "node:crypto";
import { desc, eq } from "drizzle-orm";
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
import { invites } from "../store/schema.ts";
import type { ZoneWriter } from "./zone-writer.ts";

export const MAX_INVITE_TTL_MS = 30 * 24 * 3600 * 1000;
export const MAX_INVITE_USES = 100;

export interface IssuedInvite {
  readonly id: string;
  readonly token: string;
  readonly expiresAt: number;
  readonly uses: number;
  /** Whether a device joining with it is given the backup key (this device holds it, and may). */
  readonly givesBackupKey: boolean;
}

export interface InviteRecord {
  readonly id: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly usesLeft: number;
  readonly givesBackupKey: boolean;
  /** `altered`: the row was not written by this device (its mac does not verify). */
  readonly status: "active" | "expired" | "used" | "revoked" | "altered";
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
  zone: ZoneWriter,
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

export function listInvites(zone: ZoneWriter): InviteRecord[] {
  const now = zone.now();
  return zone.db
    .select()
    .from(invites)
    .orderBy(desc(invites.createdAt))
    .all()
    .map((row) => ({
      id: row.id,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      usesLeft: row.usesLeft,
      givesBackupKey: row.givesBackupKey,
      status: !sealedInvite(zone.seal, row)
        ? "altered"
        : row.revokedAt !== null
          ? "revoked"
          : row.usesLeft <= 0
            ? "used"
            : row.expiresAt <= now
              ? "expired"
              : "active",
    }));
}

export function revokeInvite(zone: ZoneWriter, id: string): InviteRecord {
  const held = zone.db.select().from(invites).where(eq(invites.id, id)).get();
  if (!held) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `no invitation ${id} on this device`,
      "See them with `bucky invite list`.",
    );
  }
  const revokedAt = zone.now();
  // An altered row is marked revoked too, but not sealed: it stays altered.
  const mac = sealedInvite(zone.seal, held)
    ? inviteMac(zone.seal, { ...held, revokedAt })
    : held.mac;
  zone.db.update(invites).set({ revokedAt, mac }).where(eq(invites.id, id)).run();
  zone.log.info("invitation revoked", { id });
  const record = listInvites(zone).find((invite) => invite.id === id);
  return record as InviteRecord;
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
