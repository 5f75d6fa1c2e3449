/**
 * A person's session, and the proof it carries. A gateway signs the session cookie, but
 * any member device can sign: so a session naming a person also carries what only that
 * person could have given, which every gateway checks again:
 *
 *   owner     the owner key's login link (`bucky-login/3`, made by `bucky login-link` on a
 *             device holding the owner key) for the gateway that signed the session
 *   password  a signature over the session's claims by the key only the password gives
 *             (protocol/accounts.ts)
 *   passkey   the passkey's WebAuthn assertion, whose challenge is the hash of the claims
 *
 * The claims name the gateway, so a proof cannot be moved into another gateway's
 * session. A gateway passes a session on to the device running an app as an app-user
 * assertion (`bucky-app-user/1`): its claims and proof, under the forwarding gateway's
 * signature, for that app and device alone; never the cookie itself, which only the
 * gateway that signed it can make. (So the device running an app learns the proofs of
 * the people using it: it could tell another device's app that one of them is calling,
 * never open a session as them at a gateway.)
 */
import { createHash } from "node:crypto";
import { OWNER_USER, type UserName } from "./accounts.ts";
import type { SigningKey } from "./ed25519.ts";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromBase64url, toBase64url, utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import { MAX_CLOCK_AHEAD_MS } from "./hlc.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  publicKeyOfId,
  type ZoneId,
} from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { checkAppName } from "./names.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const USER_SESSION_TYPE = "bucky-session/2";
/** A login link the owner key signed: it opens a session of the owner. */
export const OWNER_LOGIN_TYPE = "bucky-login/3";
export const APP_USER_TYPE = "bucky-app-user/1";
export const SESSION_NONCE_BYTES = 16;
/** The longest a session lasts, whatever its gateway says: so one opened with an owner's
 * link ends at most this long after the link expired. */
export const MAX_SESSION_S = 30 * 24 * 3600;
/** How far apart the clocks of two devices of a zone may be, in the seconds sessions count. */
export const SESSION_CLOCK_SKEW_S = MAX_CLOCK_AHEAD_MS / 1000;
/**
 * How far ahead of the checking device's clock a session may be dated. A session opened
 * right after a sign-out everywhere is dated after it, and that sign-out may end sessions
 * up to two skews ahead of the gateway's clock (its writer's clock ahead, and the
 * allowance for gateways behind: lib/users/signouts.ts); the gateway's clock may be one
 * more ahead of this one's. A session dated further ahead would outlive its 30 days.
 */
export const MAX_SESSION_AHEAD_S = 3 * SESSION_CLOCK_SKEW_S + 1;

export interface SessionClaims {
  readonly zone: ZoneId;
  readonly user: UserName;
  /** The gateway that signs the session. */
  readonly gateway: DeviceId;
  readonly nonce: string;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export type SessionProof =
  | { readonly k: "owner"; readonly link: string }
  | { readonly k: "password"; readonly cred: string; readonly sig: string }
  | {
      readonly k: "passkey";
      readonly cred: string;
      /** authenticatorData, clientDataJSON and the signature, base64url. */
      readonly ad: string;
      readonly cd: string;
      readonly sig: string;
    };

export interface UserSession {
  readonly claims: SessionClaims;
  readonly proof: SessionProof;
}

/** The bytes a proof covers: every claim, in a fixed order. */
export function claimsBytes(claims: SessionClaims): Uint8Array {
  return utf8(
    `bucky-session-claims/1\n${JSON.stringify([
      claims.zone,
      claims.user,
      claims.gateway,
      claims.nonce,
      claims.issuedAt,
      claims.expiresAt,
    ])}`,
  );
}

/** The WebAuthn challenge of a passkey sign-in: the claims' SHA-256, base64url. */
export function passkeyChallenge(claims: SessionClaims): string {
  return toBase64url(createHash("sha256").update(claimsBytes(claims)).digest());
}

export function signUserSession(
  claims: SessionClaims,
  proof: SessionProof,
  gateway: SigningKey,
): string {
  return signJws(
    { alg: "EdDSA", typ: USER_SESSION_TYPE, kid: claims.gateway },
    payloadOf({ claims, proof }),
    gateway,
  );
}

/**
 * Checks a session cookie's signature (its gateway's), zone, expiry and shape. Whether
 * its gateway is a member, its person's account stands and its proof holds is the
 * caller's.
 */
export function verifyUserSession(token: string, zone: ZoneId, nowSeconds: number): UserSession {
  const decoded = decodeJws(token);
  check(decoded.header.typ === USER_SESSION_TYPE, `not a ${USER_SESSION_TYPE} token`);
  const gateway = signer(decoded.header.kid);
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(gateway, "device") as Uint8Array));
  return readSession(decoded.payload, gateway, zone, nowSeconds);
}

/** The password's signature over the claims, base64url. */
export function signPasswordProof(claims: SessionClaims, key: SigningKey): string {
  return toBase64url(key.sign(claimsBytes(claims)));
}

/** Throws ProtocolError unless the password's key (`publicKey`) signed these claims. */
export function checkPasswordProof(
  proof: Extract<SessionProof, { k: "password" }>,
  claims: SessionClaims,
  publicKey: Uint8Array,
): void {
  const signature = fromBase64url(proof.sig);
  check(
    signature !== undefined &&
      verifyKeyFromPublicKey(publicKey).verify(claimsBytes(claims), signature),
    "its password proof does not verify",
  );
}

export interface OwnerLogin {
  readonly zone: ZoneId;
  /** The only gateway that takes it. */
  readonly gateway: DeviceId;
  /** The device it was made on: rules can name it, and revoking it ends its sessions. */
  readonly device: DeviceId;
  readonly nonce: string;
  readonly expiresAt: number;
  readonly jws: string;
}

export function signOwnerLogin(
  fields: Omit<OwnerLogin, "jws" | "nonce"> & { nonce: Uint8Array },
  owner: SigningKey,
): OwnerLogin {
  const nonce = toBase64url(fields.nonce);
  const jws = signJws(
    { alg: "EdDSA", typ: OWNER_LOGIN_TYPE, kid: fields.zone },
    { zone: fields.zone, gw: fields.gateway, dev: fields.device, nonce, exp: fields.expiresAt },
    owner,
  );
  return { ...fields, nonce, jws };
}

/** Checks an owner's login link for the gateway `gateway`, now (its one use is the caller's). */
export function verifyOwnerLogin(
  token: string,
  zone: ZoneId,
  gateway: DeviceId,
  nowSeconds: number,
): OwnerLogin {
  const login = openOwnerLogin(token, zone);
  check(login.gateway === gateway, "the login link is for another gateway of the zone");
  check(login.expiresAt > nowSeconds, "the login link has expired");
  return login;
}

/**
 * Throws unless an owner's proof holds for these claims: the owner key's link, for the
 * gateway that signed the session, which it signed before the link expired.
 */
export function checkOwnerProof(
  proof: Extract<SessionProof, { k: "owner" }>,
  claims: SessionClaims,
): OwnerLogin {
  const login = openOwnerLogin(proof.link, claims.zone);
  check(claims.user === OWNER_USER, "an owner's login link opens only the owner's session");
  check(login.gateway === claims.gateway, "its login link was for another gateway");
  check(claims.issuedAt <= login.expiresAt, "it was opened after its login link expired");
  return login;
}

/** A gateway's word to the device running `app`: this request comes with this session. */
export function signAppUser(
  fields: {
    zone: ZoneId;
    app: string;
    audience: DeviceId;
    expiresAt: number;
    session: UserSession;
  },
  gateway: SigningKey,
): string {
  return signJws(
    { alg: "EdDSA", typ: APP_USER_TYPE, kid: deviceIdFromPublicKey(gateway.publicKey) },
    {
      zone: fields.zone,
      app: fields.app,
      aud: fields.audience,
      exp: fields.expiresAt,
      s: { ...payloadOf(fields.session), gw: fields.session.claims.gateway },
    },
    gateway,
  );
}

/**
 * Checks an app-user assertion for `app` on device `audience`: the forwarding gateway's
 * signature (which gateway it is, and that it is a member, is the caller's), expiry, and
 * the shape of the session inside (whose proof the caller checks as it would a cookie's).
 */
export function verifyAppUser(
  token: string,
  zone: ZoneId,
  audience: DeviceId,
  app: string,
  nowSeconds: number,
): { forwardedBy: DeviceId; session: UserSession; expiresAt: number } {
  const decoded = decodeJws(token);
  check(decoded.header.typ === APP_USER_TYPE, `not a ${APP_USER_TYPE} token`);
  const forwardedBy = signer(decoded.header.kid);
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(forwardedBy, "device") as Uint8Array));
  const payload = requireRecord(decoded.payload, "app user");
  requireOnlyFields(payload, ["zone", "app", "aud", "exp", "s"], "app user");
  check(payload.zone === zone, "the app user is for another zone");
  check(payload.aud === audience, "the app user is for another device");
  check(
    typeof payload.app === "string" && checkAppName(payload.app).ok && payload.app === app,
    "the app user is for another app",
  );
  const expiresAt = requireUint(payload.exp, "app user exp");
  check(expiresAt > nowSeconds, "the app user has expired");
  const { gw, ...session } = requireRecord(payload.s, "app user session");
  const gateway = parseDeviceId(requireString(gw, "app user session gateway", 64));
  check(gateway !== undefined, "the app user's session names no gateway");
  return { forwardedBy, session: readSession(session, gateway, zone, nowSeconds), expiresAt };
}

function payloadOf(session: UserSession): Record<string, unknown> {
  const { claims, proof } = session;
  return {
    zone: claims.zone,
    user: claims.user,
    nonce: claims.nonce,
    iat: claims.issuedAt,
    exp: claims.expiresAt,
    proof,
  };
}

function readSession(
  value: unknown,
  gateway: DeviceId,
  zone: ZoneId,
  nowSeconds: number,
): UserSession {
  const payload = requireRecord(value, "session");
  requireOnlyFields(payload, ["zone", "user", "nonce", "iat", "exp", "proof"], "session");
  check(payload.zone === zone, "the session is for another zone");
  const user = requireString(payload.user, "session user", 64) as UserName;
  const nonce = requireString(payload.nonce, "session nonce", 32);
  check(fromBase64url(nonce)?.length === SESSION_NONCE_BYTES, "the session's nonce is malformed");
  const expiresAt = requireUint(payload.exp, "session exp");
  check(expiresAt > nowSeconds, "the session has expired");
  const issuedAt = requireUint(payload.iat, "session iat");
  check(
    issuedAt < expiresAt && expiresAt - issuedAt <= MAX_SESSION_S,
    "a session lasts at most 30 days",
  );
  check(issuedAt <= nowSeconds + MAX_SESSION_AHEAD_S, "the session is dated in the future");
  return {
    claims: { zone, user, gateway, nonce, issuedAt, expiresAt },
    proof: readProof(payload.proof),
  };
}

function readProof(value: unknown): SessionProof {
  check(isRecord(value), "the session carries no proof");
  const bytes = (field: string, max: number) => {
    const text = requireString(value[field], `proof ${field}`, max);
    check(fromBase64url(text) !== undefined, `proof ${field} is not base64url`);
    return text;
  };
  switch (value.k) {
    case "owner":
      requireOnlyFields(value, ["k", "link"], "owner proof");
      return { k: "owner", link: requireString(value.link, "proof link", 2048) };
    case "password":
      requireOnlyFields(value, ["k", "cred", "sig"], "password proof");
      return { k: "password", cred: bytes("cred", 32), sig: bytes("sig", 88) };
    case "passkey":
      requireOnlyFields(value, ["k", "cred", "ad", "cd", "sig"], "passkey proof");
      return {
        k: "passkey",
        cred: bytes("cred", 32),
        ad: bytes("ad", 2048),
        cd: bytes("cd", 2048),
        sig: bytes("sig", 1024),
      };
    default:
      check(false, "the session's proof is of no known kind");
  }
}

function openOwnerLogin(token: string, zone: ZoneId): OwnerLogin {
  const decoded = decodeJws(token);
  check(decoded.header.typ === OWNER_LOGIN_TYPE, `not a ${OWNER_LOGIN_TYPE} token`);
  check(decoded.header.kid === zone, "the login link is not signed by this zone's owner");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(zone, "zone") as Uint8Array));
  const payload = requireRecord(decoded.payload, "owner's login");
  requireOnlyFields(payload, ["zone", "gw", "dev", "nonce", "exp"], "owner's login");
  check(payload.zone === zone, "the login link is for another zone");
  const gateway = parseDeviceId(requireString(payload.gw, "login gateway", 64));
  check(gateway !== undefined, "the login link's gateway is malformed");
  const device = parseDeviceId(requireString(payload.dev, "login device", 64));
  check(device !== undefined, "the login link's device is malformed");
  const nonce = requireString(payload.nonce, "login nonce", 32);
  check(
    fromBase64url(nonce)?.length === SESSION_NONCE_BYTES,
    "the login link's nonce is malformed",
  );
  return {
    zone,
    gateway,
    device,
    nonce,
    expiresAt: requireUint(payload.exp, "login exp"),
    jws: decoded.compact,
  };
}

function signer(kid: string): DeviceId {
  const id = parseDeviceId(kid);
  check(id !== undefined, "the token's signer is not a device id");
  return id;
}
