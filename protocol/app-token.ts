/**
 * The token an app receives in its environment (BUCKY_APP_TOKEN): a compact JWS signed
 * by the device running it, naming the zone, the app and the permissions its manifest
 * asked for. Whatever the app calls later checks it; it grants nothing beyond that list.
 */
import type { SigningKey } from "./ed25519.ts";
import { deviceIdFromPublicKey, type ZoneId } from "./ids.ts";
import { signJws } from "./jws.ts";

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
