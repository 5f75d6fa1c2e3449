/**
 * The owner's consent to purge an app: to delete its data, every copy of it and its
 * conflict copies, on every device. Any member writes the apps' specs, so a spec saying
 * `purge: true` proves nothing by itself; with this grant inside it, signed by the owner
 * key, it is the owner's act.
 *
 *   grant = JWS (typ bucky-app-purge/1, kid = zone id, signed by the owner key)
 *           { zone, app, device (id), removedAt }
 *
 * It is bound to exactly one removal: the spec it is in must be of `app`, say removed at
 * `removedAt` (its `updatedAt`), and be written by `device` (the author of its row in the
 * zone state, which the device's signature on its changeset fixes). A member copying the
 * grant of an earlier purge into a spec of its own, against the app installed again, writes
 * a row whose author is itself: that grant is not for its removal, and nothing is deleted.
 *
 * Pure.
 */
import type { SigningKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import { type DeviceId, parseDeviceId, type ZoneId } from "./ids.ts";
import { type GrantKind, signOwnerGrant, verifyOwnerGrant } from "./owner-grant.ts";
import { requireString } from "./shape.ts";

export const APP_PURGE_TYPE = "bucky-app-purge/1";
/** A grant's JWS is small: a few ids and a time. */
export const MAX_PURGE_GRANT_LENGTH = 2048;
const MAX_APP_LENGTH = 128;
const MAX_TIME_LENGTH = 64;

const PURGE_GRANT: GrantKind = {
  type: APP_PURGE_TYPE,
  what: "purge grant",
  fields: ["zone", "app", "device", "removedAt"],
  maxLength: MAX_PURGE_GRANT_LENGTH,
};

export interface PurgeGrant {
  readonly zone: ZoneId;
  readonly app: string;
  /** The device that writes the removal (its spec's row in the zone state is its). */
  readonly device: DeviceId;
  /** The removal's time, as its spec says it (`updatedAt`). */
  readonly removedAt: string;
  readonly jws: string;
}

export function signPurgeGrant(fields: Omit<PurgeGrant, "jws">, owner: SigningKey): PurgeGrant {
  const { zone, app, device, removedAt } = fields;
  const jws = signOwnerGrant(PURGE_GRANT, { zone, app, device, removedAt }, owner);
  // Checked as any reader would, so that nothing is signed that no one accepts.
  return verifyPurgeGrant(jws, zone);
}

/** Checks a grant: the owner of `zone` signed it, for that zone, and it names a removal. */
export function verifyPurgeGrant(jws: string, zone: ZoneId): PurgeGrant {
  const payload = verifyOwnerGrant(jws, zone, PURGE_GRANT);
  const device = parseDeviceId(requireString(payload.device, "purge grant device", 64));
  check(device !== undefined, "the purge grant's device is not a device id");
  return {
    zone,
    app: requireString(payload.app, "purge grant app", MAX_APP_LENGTH),
    device,
    removedAt: requireString(payload.removedAt, "purge grant removedAt", MAX_TIME_LENGTH),
    jws,
  };
}

/**
 * Whether `grant` is the owner's consent to the removal of `app` written at `removedAt`
 * by the device `author`: the one removal it was signed for.
 */
export function grantsRemoval(
  grant: PurgeGrant,
  removal: { readonly app: string; readonly removedAt: string; readonly author: string },
): boolean {
  return (
    grant.app === removal.app &&
    grant.removedAt === removal.removedAt &&
    grant.device === removal.author
  );
}
