/**
 * Ed25519 through the runtime's native crypto (RFC 8032). Native signing is about 17x and
 * verification about 9x faster than pure JavaScript here, and changeset verification is a
 * hot path, so this is the one implementation; tests cross-check it against @noble/curves.
 * Deterministic: no randomness, no I/O.
 */
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign as nativeSign,
  verify as nativeVerify,
} from "node:crypto";
import { check } from "./errors.ts";

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// DER prefixes that wrap a raw Ed25519 seed (PKCS#8) or public key (SPKI).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface SigningKey {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface VerifyKey {
  readonly publicKey: Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  check(seed.length === SEED_BYTES, `an Ed25519 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  return {
    publicKey,
    sign: (message) => new Uint8Array(nativeSign(null, message, privateKey)),
  };
}

export function verifyKeyFromPublicKey(publicKey: Uint8Array): VerifyKey {
  check(
    publicKey.length === PUBLIC_KEY_BYTES,
    `an Ed25519 public key is ${PUBLIC_KEY_BYTES} bytes, got ${publicKey.length}`,
  );
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: "der",
      type: "spki",
    });
  } catch {
    check(false, "not a valid Ed25519 public key");
  }
  return {
    publicKey,
    verify: (message, signature) =>
      signature.length === SIGNATURE_BYTES && nativeVerify(null, message, keyObject, signature),
  };
}
