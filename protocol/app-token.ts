/**
 * The token an app receives in its environment (BUCKY_APP_TOKEN): a compact JWS signed
 * by the device running it, naming the zone, the app and the permissions its manifest
 * asked for. The app API of that device (lib/apps/app-api.ts) checks it on every call;
 * it grants nothing beyond that list.
 */
import { type SigningKey, verifyKeyFromPublicKey } from "./ed25519.ts";
import { check } from "./errors.ts";
import { type DeviceId, deviceIdFromPublicKey, publicKeyOfId, type ZoneId } from "./ids.ts";
import { decodeJws, signJws, verifyJws } from "./jws.ts";
import { isRecord, requireOnlyFields, requireRecord, requireString, requireUint } from "./shape.ts";

export const APP_TOKEN_TYPE = "bucky-app/1";

export interface AppTokenClaims {
  readonly zone: ZoneId;
  readonly app: string;
  readonly version: string;
  readonly permissions: readonly string[];
  /** Seconds since the epoch. */
  readonly issuedAt: number;
}

export function signAppToken(claims: AppTokenClaims, device: SigningKey): string {
  const kid = deviceIdFromPublicKey(device.publicKey);
  return signJws(
    { alg: "EdDSA", typ: APP_TOKEN_TYPE, kid },
    {
      zone: claims.zone,
      app: claims.app,
      version: claims.version,
      scope: claims.permissions,
      iat: claims.issuedAt,
      iss: kid,
    },
    device,
  );
}

const MAX_APP_NAME = 64;
const MAX_VERSION = 32;
const MAX_PERMISSIONS = 32;
const MAX_PERMISSION_LENGTH = 600;

/**
 * Checks a token as the app API of `device` receives it: of this type, signed by that
 * device (no other device's token is taken), for `zone`, its fields within their limits.
 * Whether it names the app calling, and that app's current version, is the caller's.
 */
export function verifyAppToken(token: string, zone: ZoneId, device: DeviceId): AppTokenClaims {
  const decoded = decodeJws(token.trim());
  check(decoded.header.typ === APP_TOKEN_TYPE, "not an app token");
  check(decoded.header.kid === device, "the app token was signed by another device");
  verifyJws(decoded, verifyKeyFromPublicKey(publicKeyOfId(device, "device") as Uint8Array));
  const payload = requireRecord(decoded.payload, "app token");
  requireOnlyFields(payload, ["zone", "app", "version", "scope", "iat", "iss"], "app token");
  check(payload.zone === zone, "the app token is for another zone");
  check(payload.iss === device, "the app token names another issuer");
  const scope = payload.scope;
  check(
    Array.isArray(scope) && scope.length <= MAX_PERMISSIONS && !scope.some((p) => isRecord(p)),
    `the app token's scope must be a list of at most ${MAX_PERMISSIONS} permissions`,
  );
  return {
    zone,
    app: requireString(payload.app, "app token app", MAX_APP_NAME),
    version: requireString(payload.version, "app token version", MAX_VERSION),
    permissions: (scope as unknown[]).map((p) =>
      requireString(p, "app token permission", MAX_PERMISSION_LENGTH),
    ),
    issuedAt: requireUint(payload.iat, "app token iat"),
  };
}
