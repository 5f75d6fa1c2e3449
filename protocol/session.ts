/**
 * Sessions for people reaching zone-only apps through a gateway. A device of the zone
 * signs a one-time login token (`bucky login-link`) for one gateway; that gateway, and no
 * other, accepts it once and sets a session cookie it signs itself. Both are compact JWS
 * by a device key, so any gateway of the zone checks any session with the zone state
 * alone: the signer must be a member. Each session carries a random nonce of its own, so
 * two opened in the same second at one gateway are two sessions, each signed out alone.
 */
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url } from "./encoding.ts";
import { check } from "./errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  publicKeyOfId,
  type ZoneId,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

/**
 * The first login token, `{zone, nonce, exp}`: every gateway took it, each once, so a used
 * link still opened a session at another gateway. Shipped, so never edited: it is only
 * recognised, to be refused with a plain reason.
 */
export const LOGIN_TYPE_V1 = "bucky-login/1";
/** A login token for one gateway: `{zone, gw, nonce, exp}`. */
export const LOGIN_TYPE = "bucky-login/2";
/**
 * The first device session, `{zone, dev, exp}`: nothing of its own, so two opened in the
 * same second at one gateway were one cookie, and signing out one ended both. Shipped, so
 * never edited: gateways sign it no more, and still take it until it expires (30 days).
 */
export const SESSION_TYPE_V1 = "bucky-session/1";
/**
 * A device's session: `{zone, dev, nonce, exp}`. (`bucky-session/2` is a person's,
 * protocol/user-session.ts.)
 */
export const SESSION_TYPE = "bucky-session/3";
export const NONCE_BYTES = 16;

export interface LoginToken {
  readonly zone: ZoneId;
  /** The device that issued it. */
  readonly issuer: DeviceId;
  /** The only gateway that takes it: the one that remembers its nonce. */
  readonly gateway: DeviceId;
  /** Makes it one-time: its gateway accepts each nonce once. */
  readonly nonce: string;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
  readonly jws: string;
}

export interface Session {
  readonly zone: ZoneId;
  /** The gateway device that set it. */
  readonly issuer: DeviceId;
  /** The device whose login link opened it: rules can name it. */
  readonly device: DeviceId;
  /** This session's own random part, base64url; none in a first-version session. */
  readonly nonce?: string;
  readonly expiresAt: number;
}

export function signLoginToken(
  fields: { zone: ZoneId; gateway: DeviceId; nonce: Uint8Array; expiresAt: number },
  device: SigningKey,
): LoginToken {
  const issuer = deviceIdFromPublicKey(device.publicKey);
  const nonce = toBase64url(fields.nonce);
  const jws = signJws(
    { alg: "EdDSA", typ: LOGIN_TYPE, kid: issuer },
    { zone: fields.zone, gw: fields.gateway, nonce, exp: fields.expiresAt },
    device,
  );
  return {
    zone: fields.zone,
    issuer,
    gateway: fields.gateway,
    nonce,
    expiresAt: fields.expiresAt,
    jws,
  };
}

/**
 * Checks a login token's signature, zone, gateway (the one checking it) and expiry;
 * whether its issuer is a member is the caller's.
 */
export function verifyLoginToken(
  token: string,
  zone: ZoneId,
  gateway: DeviceId,
  nowSeconds: number,
): LoginToken {
  check(
    decodeJws(token).header.typ !== LOGIN_TYPE_V1,
    "it was made by an older bucky, for any gateway",
  );
  const { decoded, issuer, payload } = open(token, LOGIN_TYPE, ["zone", "gw", "nonce", "exp"]);
  check(payload.zone === zone, "the login link is for another zone");
  const named = parseDeviceId(requireString(payload.gw, "login gateway", 64));
  check(named !== undefined, "the login link's gateway is malformed");
  check(named === gateway, "the login link is for another gateway of the zone");
  const nonce = requireString(payload.nonce, "login nonce", 64);
  check(fromBase64url(nonce)?.length === NONCE_BYTES, "the login link's nonce is malformed");
  const expiresAt = requireUint(payload.exp, "login exp");
  check(expiresAt > nowSeconds, "the login link has expired");
  return { zone, issuer, gateway, nonce, expiresAt, jws: decoded.compact };
}

export function signSession(
  fields: { zone: ZoneId; device: DeviceId; nonce: Uint8Array; expiresAt: number },
  gateway: SigningKey,
): string {
  check(fields.nonce.length === NONCE_BYTES, "a session's nonce is 16 bytes");
  const issuer = deviceIdFromPublicKey(gateway.publicKey);
  return signJws(
    { alg: "EdDSA", typ: SESSION_TYPE, kid: issuer },
    {
      zone: fields.zone,
      dev: fields.device,
      nonce: toBase64url(fields.nonce),
      exp: fields.expiresAt,
    },
    gateway,
  );
}

/** Checks a session cookie's signature, zone and expiry; a first-version one too. */
export function verifySession(token: string, zone: ZoneId, nowSeconds: number): Session {
  const first = decodeJws(token).header.typ === SESSION_TYPE_V1;
  const { issuer, payload } = first
    ? open(token, SESSION_TYPE_V1, ["zone", "dev", "exp"])
    : open(token, SESSION_TYPE, ["zone", "dev", "nonce", "exp"]);
  check(payload.zone === zone, "the session is for another zone");
  const device = parseDeviceId(requireString(payload.dev, "session device", 64));
  check(device !== undefined, "the session's device is malformed");
  const expiresAt = requireUint(payload.exp, "session exp");
  check(expiresAt > nowSeconds, "the session has expired");
  if (first) return { zone, issuer, device, expiresAt };
  const nonce = requireString(payload.nonce, "session nonce", 32);
  check(fromBase64url(nonce)?.length === NONCE_BYTES, "the session's nonce is malformed");
  return { zone, issuer, device, nonce, expiresAt };
}

function open(token: string, type: string, fields: readonly string[]) {
  const decoded = decodeJws(token);
  check(decoded.header.typ === type, `not a ${type} token`);
  const issuer = parseDeviceId(decoded.header.kid);
  check(issuer !== undefined, "the token's signer is not a device id");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(issuer, "device") as Uint8Array));
  const payload = requireRecord(decoded.payload, type);
  requireOnlyFields(payload, fields, type);
  return { decoded, issuer, payload };
}
