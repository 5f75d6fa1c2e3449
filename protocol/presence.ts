/**
 * Presence: a device's signed word that it is alive at a time. It travels with every
 * sync message, and each device keeps only the newest of each device's, so liveness
 * spreads through the zone as state does (through whichever devices can reach each
 * other) without a changeset every heartbeat: those would grow every device's log, and
 * every backup's, forever.
 *
 *   record = CBOR [body: bstr, signature: bstr]
 *   body   = CBOR { v: 1, zone, device, at }      (at: ms since the epoch, the device's clock)
 *
 * The signature is Ed25519 by the device's key over a context label and the body bytes
 * exactly as carried.
 */
import type { SigningKey, VerifyKey } from "./ed25519.ts";
import { utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  parseZoneId,
  type ZoneId,
} from "./ids.ts";
import { requireOnlyFields, requireString, requireUint } from "./shape.ts";
import { openRecord, sealRecord, signatureHolds } from "./signed-record.ts";

export const PRESENCE_VERSION = 1;
export const MAX_PRESENCE_BYTES = 512;
const ID_MAX_LENGTH = 64;
const SIGNATURE_CONTEXT = utf8("bucky presence v1\n");

export interface Presence {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  /** When the device said it (its clock, ms since the epoch). */
  readonly at: number;
  /** The whole record as stored and sent. */
  readonly bytes: Uint8Array;
}

interface DecodedPresence extends Presence {
  readonly bodyBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export function signPresence(zone: ZoneId, at: number, device: SigningKey): Presence {
  const body = { v: PRESENCE_VERSION, zone, device: deviceIdFromPublicKey(device.publicKey), at };
  return decodePresence(sealRecord(body, device, SIGNATURE_CONTEXT));
}

/** Parses a record and checks its fields. Does not verify the signature. */
export function decodePresence(bytes: Uint8Array): DecodedPresence {
  const { body, bodyBytes, signature } = openRecord(bytes, MAX_PRESENCE_BYTES, "presence");
  requireOnlyFields(body, ["v", "zone", "device", "at"], "presence body");
  check(body.v === PRESENCE_VERSION, `presence version ${String(body.v)} is not supported`);
  const zone = parseZoneId(requireString(body.zone, "presence zone", ID_MAX_LENGTH));
  check(zone !== undefined, "presence zone is not a zone id");
  const device = parseDeviceId(requireString(body.device, "presence device", ID_MAX_LENGTH));
  check(device !== undefined, "presence device is not a device id");
  return { zone, device, at: requireUint(body.at, "presence at"), bytes, bodyBytes, signature };
}

/** Throws ProtocolError unless the device's key signed this record. */
export function verifyPresence(presence: DecodedPresence, deviceKey: VerifyKey): void {
  check(
    deviceIdFromPublicKey(deviceKey.publicKey) === presence.device,
    "presence verified against the wrong key",
  );
  check(
    signatureHolds(presence, deviceKey, SIGNATURE_CONTEXT),
    `presence of ${presence.device} has a bad signature`,
  );
}
