/**
 * The inviting device's side of a join: check the invitation and the new device's proof
 * that it holds its key, then sign its device document with the owner key and add it to
 * the zone state. A refused request changes nothing here. The answer carries the zone's
 * backup key, sealed to the new device, when this device holds it and the invitation
 * gives it. A device admitted already whose join was cut short, asking again with its own
 * key, is given the same answer (readmitDevice).
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq } from "drizzle-orm";
import type { Op } from "../../protocol/changeset.ts";
import { signDeviceDocument } from "../../protocol/documents.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { type DeviceId, deviceIdFromPublicKey } from "../../protocol/ids.ts";
import { hashInviteSecret } from "../../protocol/invite.ts";
import {
  decodeJoinRequest,
  encodeJoinAnswer,
  type JoinRequest,
  sealBackupKey,
} from "../../protocol/join.ts";
import { MAX_REQUEST_SKEW_MS } from "../../protocol/request-auth.ts";
import { stateKeys } from "../../protocol/state-key.ts";
import { sealEpochsToOps } from "../backup/key-epochs.ts";
import { BuckyError } from "../errors.ts";
import { clockError } from "../node/admit-member.ts";
import { readDeviceInfo } from "../node/peers.ts";
import { invites, state } from "../store/schema.ts";
import { type Member, type Membership, standingOf } from "../sync/membership.ts";
import { lastHeardAlive } from "../sync/presence.ts";
import { inviteRecordKey, inviteRecordValue } from "./invite-records.ts";
import { type InvitingZone, inviteMac, revokedInZone, sealedInvite } from "./invites.ts";
import { refusedInState } from "./readers.ts";

export interface Admission {
  /** The answer to send: the new device's document, and the backup key sealed to it. */
  readonly answer: string;
}

/** What the joining device says of itself beside its request. */
export interface Joiner {
  /** Its clock as it asked (the time its request states; undefined when it states none). */
  readonly clockMs: number | undefined;
  /** The level of write rules it reads (protocol/join.ts joinPath): 0 when it says none. */
  readonly writeRules: number;
}

/** Admits the device asking with `body`. */
export function admitDevice(zone: InvitingZone, body: unknown, joiner: Joiner): Admission {
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
  // Admitted, a device whose clock is off by more than the request window would have its
  // every request refused (E_CLOCK), its first pull included: a member that never comes,
  // its invitation used up and its name taken. Refused before, nothing used.
  const offsetMs = joiner.clockMs === undefined ? 0 : joiner.clockMs - zone.now();
  const id = deviceIdFromPublicKey(request.publicKey);
  const membership = zone.membership();
  const member = membership.byId.get(id);
  if (member) {
    if (Math.abs(offsetMs) > MAX_REQUEST_SKEW_MS) throw clockError(zone.deviceName, offsetMs);
    return readmitDevice(zone, membership, member, request, invite.givesBackupKey);
  }
  // Past the member's resume: a join cut short (a power cut, the next morning) resumes after
  // its invitation expired, given nothing it did not have, rather than leave the zone listing
  // a device that never comes, its name taken for good.
  if (invite.expiresAt <= zone.now()) throw refuse("has expired");
  if (invite.usesLeft <= 0) throw refuse("has been used up");
  // Admitted, it would refuse that write as it syncs, and every later change of its writer:
  // refused before anything is written, the invitation kept for the upgraded bucky. (A
  // member asking again, above, is answered as it was: it is in the zone already, and its
  // refusals are said like any member's.)
  const refused = refusedInState(zone.db, joiner.writeRules);
  if (refused) throw olderJoinerError(zone, refused);
  if (Math.abs(offsetMs) > MAX_REQUEST_SKEW_MS) throw clockError(zone.deviceName, offsetMs);

  const named = membership.byName.get(request.name);
  if (named) {
    const standing = standingOf(membership, named.id);
    throw new BuckyError(
      "E_EXISTS",
      `the zone already has a device named ${request.name}${standing === "member" ? "" : ` (${standing === "unknown" ? "revoked" : standing}: its name stays taken)`}`,
      "Join with another name: --device <name>.",
    );
  }

  const doc = signDeviceDocument(
    {
      name: request.name,
      devicePublicKey: request.publicKey,
      issuedAt: Math.floor(zone.now() / 1000),
    },
    zone.ownerKey(),
  );
  const backupKey = backupKeyFor(zone, invite.givesBackupKey, id, request.publicKey);
  // Given the key after a revocation renewed it: the epochs since are sealed to it too.
  const epochs = backupKey
    ? sealEpochsToOps({
        db: zone.db,
        zone: zone.zoneId,
        owner: zone.ownerKey(),
        roots: zone.backupEpochRoots?.() ?? new Map(),
        device: id,
      })
    : [];
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
      // Kept whatever becomes of the name's document: lib/zone/name-clashes.ts.
      { key: stateKeys.admission(zone.deviceName, id), value: JSON.stringify(doc.jws) },
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
      ...epochs,
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

/**
 * A device the zone already admitted asks again, with its own key (its request proves it
 * holds it) and an invitation of this device: its join was cut short after the admission
 * (killed, or the answer lost on the way: lib/zone/pending-join.ts). It gets the answer it
 * was given, its document and the backup key sealed to it, and uses no invitation again:
 * nothing it did not have, and the zone stops waiting for a device that would never come.
 */
function readmitDevice(
  zone: InvitingZone,
  membership: Membership,
  member: Member,
  request: JoinRequest,
  givesBackupKey: boolean,
): Admission {
  if (standingOf(membership, member.id) !== "member")
    throw new BuckyError(
      "E_PERMISSION",
      `this device, ${member.name}, was ${standingOf(membership, member.id)} in the zone`,
      "Join from a fresh home with a new invitation (`bucky invite`).",
    );
  // Heard from, it finished joining (its key came from a home that holds the zone): there is
  // nothing to resume, and an invitation gives it nothing more.
  if (lastHeardAlive(zone.db).has(member.id))
    throw new BuckyError("E_EXISTS", "this device is already a member of the zone");
  // Under another name: the E_EXISTS the joiner takes for a taken name, so it tries its next.
  if (member.name !== request.name)
    throw new BuckyError(
      "E_EXISTS",
      `this device is already a member of the zone, as ${member.name}`,
      `Join with its name: --device ${member.name}.`,
    );
  const doc = zone.db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, stateKeys.deviceDocument(member.name)))
    .get();
  if (!doc?.value) throw new Error(`member ${member.name} has no document in the state`);
  const backupKey = backupKeyFor(zone, givesBackupKey, member.id, request.publicKey);
  zone.log.info("device admission resumed", { device: member.name, id: member.id });
  return {
    answer: encodeJoinAnswer({
      device: JSON.parse(doc.value) as string,
      ...(backupKey ? { backupKey } : {}),
    }),
  };
}

/** The refusal of a device whose bucky would refuse `op`, which the zone holds. */
function olderJoinerError(zone: InvitingZone, op: Op): BuckyError {
  const version = readDeviceInfo(zone.db, zone.deviceName)?.version;
  return new BuckyError(
    "E_UPGRADE_FIRST",
    `the zone holds ${op.key}, which the bucky of the device asking refuses: joined, it would refuse every later change of that key's writer`,
    `Install ${version ? `bucky ${version}` : "the bucky this device runs"} (or a newer one) on the device asking, then run the same \`bucky join\` again: the invitation still holds.`,
  );
}

/** The zone's backup key sealed to the joining device, when this one holds it and may give it. */
function backupKeyFor(
  zone: InvitingZone,
  gives: boolean,
  device: DeviceId,
  devicePublicKey: Uint8Array,
): Uint8Array | undefined {
  const root = gives ? zone.backupRoot() : undefined;
  return root
    ? sealBackupKey({
        zone: zone.zoneId,
        device,
        devicePublicKey,
        backupRoot: root,
        ephemeral: new Uint8Array(randomBytes(32)),
        nonce: new Uint8Array(randomBytes(12)),
      })
    : undefined;
}
