import { describe, expect, test } from "bun:test";
import {
  DEVICE_DOCUMENT_TYPE,
  REVOCATION_TYPE,
  signDeviceDocument,
  signRevocation,
  signZoneDocument,
  verifyDeviceDocument,
  verifyRevocation,
  verifyZoneDocument,
  ZONE_DOCUMENT_TYPE,
} from "./documents.ts";
import { type SigningKey, signingKeyFromSeed } from "./ed25519.ts";
import { fromBase64url, fromHex, fromUtf8, toBase64url, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import { deviceIdFromPublicKey, zoneIdFromPublicKey } from "./ids.ts";
import { MAX_JWS_LENGTH } from "./jws.ts";
import type { DeviceName, ZoneName } from "./names.ts";

const owner = signingKeyFromSeed(new Uint8Array(32).fill(1));
const otherOwner = signingKeyFromSeed(new Uint8Array(32).fill(2));
const device = signingKeyFromSeed(new Uint8Array(32).fill(3));
const zoneId = zoneIdFromPublicKey(owner.publicKey);
const otherZoneId = zoneIdFromPublicKey(otherOwner.publicKey);
const deviceId = deviceIdFromPublicKey(device.publicKey);
const ISSUED_AT = 1_767_225_600;

const zoneDocument = signZoneDocument({ name: "home" as ZoneName, issuedAt: ISSUED_AT }, owner);
const deviceDocument = signDeviceDocument(
  { name: "laptop" as DeviceName, devicePublicKey: device.publicKey, issuedAt: ISSUED_AT },
  owner,
);

/** A compact JWS of exactly these header and payload values, signed by `signer`. */
function craft(header: object, payload: unknown, signer: SigningKey = owner): string {
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${toBase64url(signer.sign(utf8(input)))}`;
}

function part(value: unknown): string {
  return toBase64url(utf8(JSON.stringify(value)));
}

function jsonOfPart(compact: string, index: number): unknown {
  const bytes = fromBase64url(compact.split(".")[index] ?? "");
  return JSON.parse(fromUtf8(bytes ?? new Uint8Array()) ?? "");
}

const zoneHeader = { alg: "EdDSA", typ: ZONE_DOCUMENT_TYPE, kid: zoneId };
const zonePayload = { id: zoneId, name: "home", iat: ISSUED_AT };
const deviceHeader = { alg: "EdDSA", typ: DEVICE_DOCUMENT_TYPE, kid: zoneId };
const devicePayload = { zone: zoneId, id: deviceId, name: "laptop", iat: ISSUED_AT };

describe("zone documents", () => {
  test("carry the owner's zone id, name and iat, signed under kid = zone id", () => {
    expect(zoneDocument).toEqual({
      id: zoneId,
      name: "home" as ZoneName,
      issuedAt: ISSUED_AT,
      jws: zoneDocument.jws,
    });
    expect(jsonOfPart(zoneDocument.jws, 0)).toEqual(zoneHeader);
    expect(jsonOfPart(zoneDocument.jws, 1)).toEqual(zonePayload);
  });

  test("verify against the key their own id names", () => {
    expect(verifyZoneDocument(zoneDocument.jws)).toEqual(zoneDocument);
    expect(verifyZoneDocument(zoneDocument.jws, zoneId)).toEqual(zoneDocument);
  });

  test("refuse to stand in for another zone", () => {
    expect(() => verifyZoneDocument(zoneDocument.jws, otherZoneId)).toThrow(
      new ProtocolError(`zone document is for ${zoneId}, not ${otherZoneId}`),
    );
  });

  test("refuse a kid other than the zone id", () => {
    const jws = craft({ ...zoneHeader, kid: otherZoneId }, zonePayload);
    expect(() => verifyZoneDocument(jws)).toThrow(
      new ProtocolError("zone document is not signed by its owner key"),
    );
  });

  test("refuse a document signed by a key other than the one the id names", () => {
    const jws = craft(zoneHeader, zonePayload, otherOwner);
    expect(() => verifyZoneDocument(jws)).toThrow(
      new ProtocolError("JWS signature does not verify"),
    );
  });

  test("refuse a forged document for an id naming a small-order key", () => {
    // Under the identity point, R = identity and S = 0 verify for every message.
    const weakKey = fromHex(`01${"00".repeat(31)}`) ?? new Uint8Array();
    const weakId = zoneIdFromPublicKey(weakKey);
    const input = `${part({ ...zoneHeader, kid: weakId })}.${part({ ...zonePayload, id: weakId })}`;
    const signature = new Uint8Array(64);
    signature.set(weakKey);
    expect(() => verifyZoneDocument(`${input}.${toBase64url(signature)}`)).toThrow(
      new ProtocolError("not a usable Ed25519 public key: it has small order"),
    );
  });

  test.each([
    [
      "an unknown field",
      { ...zonePayload, admin: true },
      'zone document has an unknown field "admin"',
    ],
    ["no id", { name: "home", iat: ISSUED_AT }, "zone document id must be a string"],
    [
      "a device id as its id",
      { ...zonePayload, id: deviceId },
      "zone document id is not a zone id",
    ],
    ["no name", { id: zoneId, iat: ISSUED_AT }, "zone name must be a string"],
    ["an invalid name", { ...zonePayload, name: "Home" }, "zone document has an invalid name"],
    ["an over-long name", { ...zonePayload, name: "a".repeat(65) }, "zone name is longer than 64"],
    ["no iat", { id: zoneId, name: "home" }, "zone document iat must be a whole number"],
    ["a negative iat", { ...zonePayload, iat: -1 }, "zone document iat must be a whole number"],
    ["a fractional iat", { ...zonePayload, iat: 1.5 }, "zone document iat must be a whole number"],
    ["an iat string", { ...zonePayload, iat: "1" }, "zone document iat must be a whole number"],
    ["a payload array", [zonePayload], "zone document must be a map"],
  ])("refuse a signed payload with %s", (_what, payload, message) => {
    expect(() => verifyZoneDocument(craft(zoneHeader, payload))).toThrow(ProtocolError);
    expect(() => verifyZoneDocument(craft(zoneHeader, payload))).toThrow(message);
  });

  test.each([
    ["alg none", { ...zoneHeader, alg: "none" }, 'JWS alg must be EdDSA, got "none"'],
    ["alg ES256", { ...zoneHeader, alg: "ES256" }, 'JWS alg must be EdDSA, got "ES256"'],
    ["a crit header", { ...zoneHeader, crit: ["x"], x: 1 }, "JWS header has critical extensions"],
    [
      "the device document type",
      { ...zoneHeader, typ: DEVICE_DOCUMENT_TYPE },
      "not a zone document (typ bucky-device/1)",
    ],
    ["another type", { ...zoneHeader, typ: "JWT" }, "not a zone document (typ JWT)"],
  ])("refuse a header with %s", (_what, header, message) => {
    expect(() => verifyZoneDocument(craft(header, zonePayload))).toThrow(ProtocolError);
    expect(() => verifyZoneDocument(craft(header, zonePayload))).toThrow(message);
  });

  test("refuse a device document", () => {
    expect(() => verifyZoneDocument(deviceDocument.jws)).toThrow(
      new ProtocolError("not a zone document (typ bucky-device/1)"),
    );
  });

  test("refuse over-long input before looking inside it", () => {
    const long = craft(zoneHeader, { ...zonePayload, pad: "x".repeat(MAX_JWS_LENGTH) });
    expect(() => verifyZoneDocument(long)).toThrow(
      new ProtocolError(`JWS is longer than ${MAX_JWS_LENGTH} characters`),
    );
  });

  test("refuse the document with its signature cut off or replaced", () => {
    const [header, payload] = zoneDocument.jws.split(".");
    expect(() => verifyZoneDocument(`${header}.${payload}.`)).toThrow(
      "JWS signature does not verify",
    );
    expect(() => verifyZoneDocument(`${header}.${payload}`)).toThrow(
      "JWS must have three dot-separated parts",
    );
    const foreign = deviceDocument.jws.split(".")[2];
    expect(() => verifyZoneDocument(`${header}.${payload}.${foreign}`)).toThrow(
      "JWS signature does not verify",
    );
  });
});

describe("device documents", () => {
  test("carry the zone, the device id, name and iat, signed under kid = zone id", () => {
    expect(deviceDocument).toEqual({
      zone: zoneId,
      id: deviceId,
      name: "laptop" as DeviceName,
      issuedAt: ISSUED_AT,
      jws: deviceDocument.jws,
    });
    expect(jsonOfPart(deviceDocument.jws, 0)).toEqual(deviceHeader);
    expect(jsonOfPart(deviceDocument.jws, 1)).toEqual(devicePayload);
  });

  test("verify against the zone owner's key", () => {
    expect(verifyDeviceDocument(deviceDocument.jws, zoneId)).toEqual(deviceDocument);
  });

  test("refuse a document from another zone", () => {
    const foreign = signDeviceDocument(
      { name: "laptop" as DeviceName, devicePublicKey: device.publicKey, issuedAt: ISSUED_AT },
      otherOwner,
    );
    expect(verifyDeviceDocument(foreign.jws, otherZoneId).zone).toBe(otherZoneId);
    expect(() => verifyDeviceDocument(foreign.jws, zoneId)).toThrow(
      new ProtocolError("device document belongs to another zone"),
    );
  });

  test("refuse a document naming this zone but signed by another owner", () => {
    const jws = craft(deviceHeader, devicePayload, otherOwner);
    expect(() => verifyDeviceDocument(jws, zoneId)).toThrow(
      new ProtocolError("JWS signature does not verify"),
    );
  });

  test("refuse a document the device signed for itself", () => {
    const jws = craft(deviceHeader, devicePayload, device);
    expect(() => verifyDeviceDocument(jws, zoneId)).toThrow(
      new ProtocolError("JWS signature does not verify"),
    );
  });

  test("refuse a kid other than the zone id", () => {
    const jws = craft({ ...deviceHeader, kid: otherZoneId }, devicePayload);
    expect(() => verifyDeviceDocument(jws, zoneId)).toThrow(
      new ProtocolError("device document is not signed by the zone owner"),
    );
  });

  test.each([
    ["an unknown field", { ...devicePayload, role: "admin" }, 'has an unknown field "role"'],
    ["no zone", { id: deviceId, name: "laptop", iat: 1 }, "belongs to another zone"],
    ["a zone id as its id", { ...devicePayload, id: zoneId }, "id is not a device id"],
    ["no id", { zone: zoneId, name: "laptop", iat: 1 }, "device id must be a string"],
    ["an invalid name", { ...devicePayload, name: "lap top" }, "has an invalid name"],
    ["a name too long", { ...devicePayload, name: "a".repeat(64) }, "has an invalid name"],
    ["no iat", { zone: zoneId, id: deviceId, name: "laptop" }, "iat must be a whole number"],
    ["an unsafe iat", { ...devicePayload, iat: 2 ** 53 }, "iat must be a whole number"],
  ])("refuse a signed payload with %s", (_what, payload, message) => {
    expect(() => verifyDeviceDocument(craft(deviceHeader, payload), zoneId)).toThrow(ProtocolError);
    expect(() => verifyDeviceDocument(craft(deviceHeader, payload), zoneId)).toThrow(message);
  });

  test.each([
    ["alg none", { ...deviceHeader, alg: "none" }, 'JWS alg must be EdDSA, got "none"'],
    ["a crit header", { ...deviceHeader, crit: ["b64"] }, "JWS header has critical extensions"],
    [
      "the zone document type",
      { ...deviceHeader, typ: ZONE_DOCUMENT_TYPE },
      "not a device document (typ bucky-zone/1)",
    ],
  ])("refuse a header with %s", (_what, header, message) => {
    expect(() => verifyDeviceDocument(craft(header, devicePayload), zoneId)).toThrow(ProtocolError);
    expect(() => verifyDeviceDocument(craft(header, devicePayload), zoneId)).toThrow(message);
  });

  test("refuse a zone document", () => {
    expect(() => verifyDeviceDocument(zoneDocument.jws, zoneId)).toThrow(
      new ProtocolError("not a device document (typ bucky-zone/1)"),
    );
  });

  test("refuse over-long input", () => {
    expect(() => verifyDeviceDocument("a".repeat(MAX_JWS_LENGTH + 1), zoneId)).toThrow(
      new ProtocolError(`JWS is longer than ${MAX_JWS_LENGTH} characters`),
    );
  });
});

describe("revocations", () => {
  const revocation = signRevocation(
    { id: deviceId, name: "laptop" as DeviceName, lastSeq: 42, issuedAt: ISSUED_AT },
    owner,
  );
  const revocationHeader = { alg: "EdDSA", typ: REVOCATION_TYPE, kid: zoneId };
  const revocationPayload = {
    zone: zoneId,
    id: deviceId,
    name: "laptop",
    lastSeq: 42,
    iat: ISSUED_AT,
  };

  test("carry the zone, the device id, name, lastSeq and iat, signed under kid = zone id", () => {
    expect(revocation).toEqual({
      zone: zoneId,
      id: deviceId,
      name: "laptop" as DeviceName,
      lastSeq: 42,
      issuedAt: ISSUED_AT,
      jws: revocation.jws,
    });
    expect(jsonOfPart(revocation.jws, 0)).toEqual(revocationHeader);
    expect(jsonOfPart(revocation.jws, 1)).toEqual(revocationPayload);
  });

  test("verify against the zone owner's key", () => {
    expect(verifyRevocation(revocation.jws, zoneId)).toEqual(revocation);
    expect(verifyRevocation(craft(revocationHeader, revocationPayload), zoneId)).toEqual({
      ...revocation,
      jws: craft(revocationHeader, revocationPayload),
    });
  });

  test("refuse a revocation from another zone", () => {
    const foreign = signRevocation(
      { id: deviceId, name: "laptop" as DeviceName, lastSeq: 42, issuedAt: ISSUED_AT },
      otherOwner,
    );
    expect(verifyRevocation(foreign.jws, otherZoneId).zone).toBe(otherZoneId);
    expect(() => verifyRevocation(foreign.jws, zoneId)).toThrow(
      new ProtocolError("revocation belongs to another zone"),
    );
    expect(() => verifyRevocation(revocation.jws, otherZoneId)).toThrow(
      new ProtocolError("revocation belongs to another zone"),
    );
  });

  test("refuse a revocation naming this zone but signed by another owner or the device", () => {
    for (const signer of [otherOwner, device]) {
      expect(() =>
        verifyRevocation(craft(revocationHeader, revocationPayload, signer), zoneId),
      ).toThrow(new ProtocolError("JWS signature does not verify"));
    }
  });

  test("refuse a kid other than the zone id", () => {
    const jws = craft({ ...revocationHeader, kid: otherZoneId }, revocationPayload);
    expect(() => verifyRevocation(jws, zoneId)).toThrow(
      new ProtocolError("revocation is not signed by the zone owner"),
    );
  });

  test("refuse a device document, and are refused as one", () => {
    expect(() => verifyRevocation(deviceDocument.jws, zoneId)).toThrow(
      new ProtocolError("not a revocation (typ bucky-device/1)"),
    );
    expect(() => verifyDeviceDocument(revocation.jws, zoneId)).toThrow(
      new ProtocolError("not a device document (typ bucky-revocation/1)"),
    );
  });

  test.each([
    [
      "an unknown field",
      { ...revocationPayload, keep: true },
      'revocation has an unknown field "keep"',
    ],
    [
      "a zone id as its id",
      { ...revocationPayload, id: zoneId },
      "revocation id is not a device id",
    ],
    ["no id", { ...revocationPayload, id: undefined }, "revocation device id must be a string"],
    [
      "an invalid name",
      { ...revocationPayload, name: "Laptop" },
      "revocation has an invalid device name",
    ],
    [
      "no lastSeq",
      { ...revocationPayload, lastSeq: undefined },
      "revocation lastSeq must be a whole number",
    ],
    [
      "a negative lastSeq",
      { ...revocationPayload, lastSeq: -1 },
      "revocation lastSeq must be a whole number",
    ],
    [
      "a fractional iat",
      { ...revocationPayload, iat: 0.5 },
      "revocation iat must be a whole number",
    ],
  ])("refuse a signed payload with %s", (_what, payload, message) => {
    expect(() => verifyRevocation(craft(revocationHeader, payload), zoneId)).toThrow(ProtocolError);
    expect(() => verifyRevocation(craft(revocationHeader, payload), zoneId)).toThrow(message);
  });
});
