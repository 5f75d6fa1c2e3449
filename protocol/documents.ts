/**
 * The zone document and device documents: compact JWS signed by the owner key, like
 * BuckyOS's zone and device documents. The zone id is the owner's public key, so a zone
 * document proves itself, and a device document is valid for exactly one zone.
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  parseZoneId,
  publicKeyOfId,
  type ZoneId,
  zoneIdFromPublicKey,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { checkDeviceName, checkZoneName, type DeviceName, type ZoneName } from "./names.ts";
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const ZONE_DOCUMENT_TYPE = "bucky-zone/1";
export const DEVICE_DOCUMENT_TYPE = "bucky-device/1";
const ID_MAX_LENGTH = 64;
const NAME_MAX_LENGTH = 64;

export interface ZoneDocument {
  readonly id: ZoneId;
  readonly name: ZoneName;
  /** Seconds since the epoch (the JWT `iat` claim). */
  readonly issuedAt: number;
  readonly jws: string;
}

export interface DeviceDocument {
  readonly zone: ZoneId;
  readonly id: DeviceId;
  readonly name: DeviceName;
  readonly issuedAt: number;
  readonly jws: string;
}

export function signZoneDocument(
  fields: { name: ZoneName; issuedAt: number },
  owner: SigningKey,
): ZoneDocument {
  const id = zoneIdFromPublicKey(owner.publicKey);
  const jws = signJws(
    { alg: "EdDSA", typ: ZONE_DOCUMENT_TYPE, kid: id },
    { id, name: fields.name, iat: fields.issuedAt },
    owner,
  );
  return { id, name: fields.name, issuedAt: fields.issuedAt, jws };
}

export function signDeviceDocument(
  fields: { name: DeviceName; devicePublicKey: Uint8Array; issuedAt: number },
  owner: SigningKey,
): DeviceDocument {
  const zone = zoneIdFromPublicKey(owner.publicKey);
  const id = deviceIdFromPublicKey(fields.devicePublicKey);
  const jws = signJws(
    { alg: "EdDSA", typ: DEVICE_DOCUMENT_TYPE, kid: zone },
    { zone, id, name: fields.name, iat: fields.issuedAt },
    owner,
  );
  return { zone, id, name: fields.name, issuedAt: fields.issuedAt, jws };
}

/**
 * Verifies a zone document against the key its own id names. With `expectedId`, also
 * checks it is that zone's document. Throws ProtocolError otherwise.
 */
export function verifyZoneDocument(jws: string, expectedId?: ZoneId): ZoneDocument {
  const decoded = decodeJws(jws);
  check(
    decoded.header.typ === ZONE_DOCUMENT_TYPE,
    `not a zone document (typ ${decoded.header.typ})`,
  );
  const payload = requireRecord(decoded.payload, "zone document");
  requireOnlyFields(payload, ["id", "name", "iat"], "zone document");
  const id = parseZoneId(requireString(payload.id, "zone document id", ID_MAX_LENGTH));
  check(id !== undefined, "zone document id is not a zone id");
  check(
    expectedId === undefined || id === expectedId,
    `zone document is for ${id}, not ${expectedId}`,
  );
  check(decoded.header.kid === id, "zone document is not signed by its owner key");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOf(id, "zone")));
  const name = checkZoneName(requireString(payload.name, "zone name", NAME_MAX_LENGTH));
  check(name.ok, "zone document has an invalid name");
  return { id, name: name.name, issuedAt: requireUint(payload.iat, "zone document iat"), jws };
}

/** Verifies a device document signed by the owner of `zone`. Throws ProtocolError otherwise. */
export function verifyDeviceDocument(jws: string, zone: ZoneId): DeviceDocument {
  const decoded = decodeJws(jws);
  check(
    decoded.header.typ === DEVICE_DOCUMENT_TYPE,
    `not a device document (typ ${decoded.header.typ})`,
  );
  const payload = requireRecord(decoded.payload, "device document");
  requireOnlyFields(payload, ["zone", "id", "name", "iat"], "device document");
  check(payload.zone === zone, "device document belongs to another zone");
  check(decoded.header.kid === zone, "device document is not signed by the zone owner");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOf(zone, "zone")));
  const id = parseDeviceId(requireString(payload.id, "device id", ID_MAX_LENGTH));
  check(id !== undefined, "device document id is not a device id");
  const name = checkDeviceName(requireString(payload.name, "device name", NAME_MAX_LENGTH));
  check(name.ok, "device document has an invalid name");
  return {
    zone,
    id,
    name: name.name,
    issuedAt: requireUint(payload.iat, "device document iat"),
    jws,
  };
}

function publicKeyOf(id: string, type: "zone" | "device"): Uint8Array {
  const key = publicKeyOfId(id, type);
  check(key !== undefined, `${id} is not a ${type} id`);
  return key;
}

export const REVOCATION_TYPE = "bucky-revocation/1";

/**
 * The owner's statement that a device is no longer a member. `lastSeq` is the last of its
 * changesets the zone keeps: every device drops the ones after it, whenever they arrive,
 * so all devices agree on what the revoked device contributed.
 */
export interface Revocation {
  readonly zone: ZoneId;
  readonly id: DeviceId;
  readonly name: DeviceName;
  readonly lastSeq: number;
  readonly issuedAt: number;
  readonly jws: string;
}

export function signRevocation(
  fields: { id: DeviceId; name: DeviceName; lastSeq: number; issuedAt: number },
  owner: SigningKey,
): Revocation {
  const zone = zoneIdFromPublicKey(owner.publicKey);
  const jws = signJws(
    { alg: "EdDSA", typ: REVOCATION_TYPE, kid: zone },
    { zone, id: fields.id, name: fields.name, lastSeq: fields.lastSeq, iat: fields.issuedAt },
    owner,
  );
  return { zone, ...fields, jws };
}

/** Verifies a revocation signed by the owner of `zone`. Throws ProtocolError otherwise. */
export function verifyRevocation(jws: string, zone: ZoneId): Revocation {
  const decoded = decodeJws(jws);
  check(decoded.header.typ === REVOCATION_TYPE, `not a revocation (typ ${decoded.header.typ})`);
  const payload = requireRecord(decoded.payload, "revocation");
  requireOnlyFields(payload, ["zone", "id", "name", "lastSeq", "iat"], "revocation");
  check(payload.zone === zone, "revocation belongs to another zone");
  check(decoded.header.kid === zone, "revocation is not signed by the zone owner");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOf(zone, "zone")));
  const id = parseDeviceId(requireString(payload.id, "revocation device id", ID_MAX_LENGTH));
  check(id !== undefined, "revocation id is not a device id");
  const name = checkDeviceName(
    requireString(payload.name, "revocation device name", NAME_MAX_LENGTH),
  );
  check(name.ok, "revocation has an invalid device name");
  return {
    zone,
    id,
    name: name.name,
    lastSeq: requireUint(payload.lastSeq, "revocation lastSeq"),
    issuedAt: requireUint(payload.iat, "revocation iat"),
    jws,
  };
}
