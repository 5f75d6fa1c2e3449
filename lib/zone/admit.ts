/**
 * The inviting device's side of a join: check the invitation and the new device's proof
 * that it holds its key, then sign its device document with the owner key and add it to
 * the zone state. A refused request changes nothing here. The answer carries the zone's
 * backup key, sealed to the new device, when this device holds it and the invitation
 * gives it.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq } from "drizzle-orm";
import { signDeviceDocument } from "../../protocol/documents.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { hashInviteSecret } from "../../protocol/invite.ts";
import { decodeJoinRequest, encodeJoinAnswer, sealBackupKey } from "../../protocol/join.ts";
import { MAX_REQUEST_SKEW_MS } from "../../protocol/request-auth.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { BuckyError } from "../errors.ts";
import { clockError } from "../node/admit-member.ts";
import { invites } from "../store/schema.ts";
import { inviteRecordKey, inviteRecordValue } from "./invite-records.ts";
import { type InvitingZone, inviteMac, revokedInZone, sealedInvite } from "./invites.ts";

export interface Admission {
  /** The answer to send: the new device's document, and the backup key sealed to it. */
  readonly answer: string;
}

/**
 * Admits the device asking with `body`, whose clock read `joinerClockMs` as it asked (the
 * time its request states; undefined when it states none).
 */
export function admitDevice(
  zone: InvitingZone,
  body: unknown,
  joinerClockMs: number | undefined,
): Admission {
  let request: ReturnType<typeof decodeJoinRequest>;
  try {
    request = decodeJoinRequest(zone.zoneId, body);
  } catch (error) {
    if (error instanceof ProtocolError)
      throw new BuckyError("E_INVALID_INPUT", `join request refused: ${error.message}`);
    throw error;
  }
  const invite = zone.db.select().from(invites).where(eq(invites.id, request.invite)).get();
  const refuse = (
    why: string,
    hint = "Ask the zone's owner for a new invitation (`bucky invite`).",
  ) => new BuckyError("E_PERMISSION", `the invitation ${why}`, hint);
  // Only an invitation this device wrote counts: its row carries the mac of its seal.
  if (
    !invite ||
    !sealedInvite(zone.seal, invite) ||
    !timingSafeEqual(invite.secretHash, hashInviteSecret(request.secret))
  )
    throw refuse("is not valid on this device");
  // Revoked here, or by any device of the zone whose revocation has reached this one.
  if (invite.revokedAt !== null || revokedInZone(zone, invite.id)) throw refuse("was revoked");
  if (invite.expiresAt <= zone.now()) throw refuse("has expired");
  if (invite.usesLeft <= 0) throw refuse("has been used up");
  // Admitted, a device whose clock is off by more than the request window would have its
  // every request refused (E_CLOCK), its first pull included: a member that never comes,
  // its invitation used up and its name taken. Refused before, nothing used.
  const offsetMs = joinerClockMs === undefined ? 0 : joinerClockMs - zone.now();
  if (Math.abs(offsetMs) > MAX_REQUEST_SKEW_MS) throw clockError(zone.deviceName, offsetMs);

  const id = deviceIdFromPublicKey(request.publicKey);
  const membership = zone.membership();
  if (membership.byName.has(request.name)) {
    throw new BuckyError(
      "E_EXISTS",
      `the zone already has a device named ${request.name}`,
      "Join with another name: --device <name>.",
    );
  }
  if (membership.byId.has(id))
    throw new BuckyError("E_EXISTS", "this device is already a member of the zone");

  const doc = signDeviceDocument(
    {
      name: request.name,
      devicePublicKey: request.publicKey,
      issuedAt: Math.floor(zone.now() / 1000),
    },
    zone.ownerKey(),
  );
  const root = invite.givesBackupKey ? zone.backupRoot() : undefined;
  const backupKey = root
    ? sealBackupKey({
        zone: zone.zoneId,
        device: id,
        devicePublicKey: request.publicKey,
        backupRoot: root,
        ephemeral: new Uint8Array(randomBytes(32)),
        nonce: new Uint8Array(randomBytes(12)),
      })
    : undefined;
  // Take a use first (only from the count just read, so two joins cannot share the last
  // one), sealed anew, then give it back if the write fails.
  const usesLeft = invite.usesLeft - 1;
  const taken = zone.db
    .update(invites)
    .set({ usesLeft, mac: inviteMac(zone.seal, { ...invite, usesLeft }) })
    .where(and(eq(invites.id, invite.id), eq(invites.usesLeft, invite.usesLeft)))
    .returning({ usesLeft: invites.usesLeft })
    .get();
  if (!taken) throw refuse("has been used up");
  try {
    // The zone's record of the invitation follows: one use fewer, or gone once used up.
    const record = inviteRecordKey(zone.deviceName, invite.id);
    zone.write([
      { key: stateKeys.deviceDocument(request.name), value: JSON.stringify(doc.jws) },
      {
        key: record,
        value:
          usesLeft > 0
            ? inviteRecordValue({
                createdAt: invite.createdAt,
                expiresAt: invite.expiresAt,
                usesLeft,
                givesBackupKey: invite.givesBackupKey,
              })
            : null,
      },
    ]);
  } catch (error) {
    zone.db
      .update(invites)
      .set({ usesLeft: invite.usesLeft, mac: invite.mac })
      .where(and(eq(invites.id, invite.id), eq(invites.usesLeft, usesLeft)))
      .run();
    throw error;
  }
  zone.log.info("device admitted", {
    device: request.name,
    id,
    invitation: invite.id,
    usesLeft: taken.usesLeft,
    backupKey: backupKey !== undefined,
  });
  return { answer: encodeJoinAnswer({ device: doc.jws, ...(backupKey ? { backupKey } : {}) }) };
}
