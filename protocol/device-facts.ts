/**
 * Device facts: a device's signed account of what it alone knows (its backups and their
 * verifies, the app data it holds and how far its standbys lag, its disk), so every device
 * of the zone computes the same status and reliability from the same facts. Like presence,
 * they travel with sync messages outside the changeset log (they change too often to be
 * kept forever), and each device keeps only the newest record of each device: the last
 * word of a device that is gone stays, which is what the others need to know.
 *
 *   record = a signed record (protocol/signed-record.ts) whose
 *   body   = CBOR { v: 1, zone, device, at, facts: {…} }  (at: ms since the epoch, the device's clock)
 *
 * What `facts` holds is read by lib/, which checks its shape.
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
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";
import { openRecord, sealRecord, signatureHolds } from "./signed-record.ts";

export const FACTS_VERSION = 1;
export const MAX_FACTS_BYTES = 64 * 1024;
const ID_MAX_LENGTH = 64;
const SIGNATURE_CONTEXT = utf8("bucky device facts v1\n");

export interface DeviceFacts {
  readonly zone: ZoneId;
  readonly device: DeviceId;
  /** When the device said it (its clock, ms since the epoch): the newer record wins. */
  readonly at: number;
  readonly facts: Readonly<Record<string, unknown>>;
  /** The whole record as stored and sent. */
  readonly bytes: Uint8Array;
}

interface DecodedFacts extends DeviceFacts {
  readonly bodyBytes: Uint8Array;
  readonly signature: Uint8Array;
}

export function signFacts(
  zone: ZoneId,
  at: number,
  facts: Readonly<Record<string, unknown>>,
  device: SigningKey,
): DeviceFacts {
  const body = {
    v: FACTS_VERSION,
    zone,
    device: deviceIdFromPublicKey(device.publicKey),
    at,
    facts,
  };
  return decodeFacts(sealRecord(body, device, SIGNATURE_CONTEXT));
}

/** Parses a record and checks its fields. Does not verify the signature. */
export function decodeFacts(bytes: Uint8Array): DecodedFacts {
  const { body, bodyBytes, signature } = openRecord(bytes, MAX_FACTS_BYTES, "facts");
  requireOnlyFields(body, ["v", "zone", "device", "at", "facts"], "facts body");
  check(body.v === FACTS_VERSION, `facts version ${String(body.v)} is not supported`);
  const zone = parseZoneId(requireString(body.zone, "facts zone", ID_MAX_LENGTH));
  check(zone !== undefined, "facts zone is not a zone id");
  const device = parseDeviceId(requireString(body.device, "facts device", ID_MAX_LENGTH));
  check(device !== undefined, "facts device is not a device id");
  return {
    zone,
    device,
    at: requireUint(body.at, "facts at"),
    facts: requireRecord(body.facts, "facts"),
    bytes,
    bodyBytes,
    signature,
  };
}

/** Throws ProtocolError unless the device's key signed this record. */
export function verifyFacts(record: DecodedFacts, deviceKey: VerifyKey): void {
  check(
    deviceIdFromPublicKey(deviceKey.publicKey) === record.device,
    "facts verified against the wrong key",
  );
  check(
    signatureHolds(record, deviceKey, SIGNATURE_CONTEXT),
    `facts of ${record.device} have a bad signature`,
  );
}
