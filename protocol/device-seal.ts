/**
 * Sealing a secret to a device: only the holder of that device's Ed25519 key can open it.
 * The construction is age's `ssh-ed25519` recipient and libsodium's sealed box, with
 * standard parts: the device's Ed25519 key is taken to X25519 (the birational map
 * u = (1 + y) / (1 - y); the secret scalar is the clamped first half of SHA-512(seed), as
 * RFC 8032 makes it), an ephemeral X25519 key agrees a secret with it, HKDF-SHA256 turns
 * that into a key bound to both public keys and a context, and AES-256-GCM seals.
 *
 *   sealed = 0x01 ‖ ephemeral X25519 public (32) ‖ nonce (12) ‖ ciphertext ‖ tag (16)
 *   key    = HKDF-SHA256(ikm = X25519(e, D), salt = E ‖ D, info = "bucky device seal v1\n" ‖ context)
 *   AAD    = context
 *
 * Native crypto does the curve work; tests cross-check the map against @noble/curves.
 * Deterministic: the ephemeral key and the nonce are passed in.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { verifyKeyFromPublicKey } from "./ed25519.ts";
import { utf8 } from "./encoding.ts";
import { check, ProtocolError } from "./errors.ts";

const VERSION = 1;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const DEVICE_SEAL_OVERHEAD = 1 + KEY_BYTES + NONCE_BYTES + TAG_BYTES;

const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");
const P = 2n ** 255n - 19n;

export function sealToDevice(options: {
  readonly plaintext: Uint8Array;
  /** The recipient device's Ed25519 public key. */
  readonly device: Uint8Array;
  readonly context: string;
  /** 32 fresh random bytes: the ephemeral X25519 secret. */
  readonly ephemeral: Uint8Array;
  /** 12 fresh random bytes. */
  readonly nonce: Uint8Array;
}): Uint8Array {
  check(options.ephemeral.length === KEY_BYTES, "the ephemeral secret is 32 bytes");
  check(options.nonce.length === NONCE_BYTES, "the nonce is 12 bytes");
  const recipient = x25519PublicFromEd25519(options.device);
  const secret = x25519Private(options.ephemeral);
  const ephemeralPublic = x25519PublicOf(secret);
  const key = sealKey(secret, recipient, ephemeralPublic, recipient, options.context);
  const cipher = createCipheriv("aes-256-gcm", key, options.nonce);
  cipher.setAAD(utf8(options.context));
  const body = Buffer.concat([cipher.update(options.plaintext), cipher.final()]);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([VERSION]),
      ephemeralPublic,
      options.nonce,
      body,
      cipher.getAuthTag(),
    ]),
  );
}

/** Opens what sealToDevice made for the device whose Ed25519 seed is `seed`. */
export function openAsDevice(options: {
  readonly sealed: Uint8Array;
  readonly seed: Uint8Array;
  /** The device's own Ed25519 public key (of `seed`). */
  readonly device: Uint8Array;
  readonly context: string;
}): Uint8Array {
  const { sealed } = options;
  check(sealed.length >= DEVICE_SEAL_OVERHEAD, "a sealed secret is too short");
  check(sealed[0] === VERSION, `a sealed secret of version ${sealed[0]} is not supported`);
  const ephemeralPublic = sealed.subarray(1, 1 + KEY_BYTES);
  const nonce = sealed.subarray(1 + KEY_BYTES, 1 + KEY_BYTES + NONCE_BYTES);
  const body = sealed.subarray(1 + KEY_BYTES + NONCE_BYTES, sealed.length - TAG_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const own = x25519PublicFromEd25519(options.device);
  const secret = x25519Private(x25519ScalarFromSeed(options.seed));
  const key = sealKey(secret, ephemeralPublic, ephemeralPublic, own, options.context);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAAD(utf8(options.context));
  decipher.setAuthTag(tag);
  try {
    return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
  } catch {
    throw new ProtocolError(
      "the sealed secret does not open: it is not for this device, or altered",
    );
  }
}

/** The X25519 public key of an Ed25519 public key (the Montgomery u of its Edwards y). */
export function x25519PublicFromEd25519(publicKey: Uint8Array): Uint8Array {
  // The same checks as for a signature key: 32 bytes, a point, not of small order.
  verifyKeyFromPublicKey(publicKey);
  let y = 0n;
  for (let i = 31; i >= 0; i--)
    y = (y << 8n) | BigInt(i === 31 ? (publicKey[i] ?? 0) & 0x7f : (publicKey[i] ?? 0));
  check(y < P && y !== 1n, "not a usable Ed25519 public key");
  const u = mod((1n + y) * inverse(mod(1n - y)));
  const out = new Uint8Array(KEY_BYTES);
  let rest = u;
  for (let i = 0; i < KEY_BYTES; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}

/** The X25519 secret scalar of an Ed25519 seed: the first half of SHA-512(seed), clamped. */
export function x25519ScalarFromSeed(seed: Uint8Array): Uint8Array {
  check(seed.length === KEY_BYTES, "an Ed25519 seed is 32 bytes");
  const scalar = new Uint8Array(createHash("sha512").update(seed).digest().subarray(0, KEY_BYTES));
  scalar[0] = (scalar[0] ?? 0) & 248;
  scalar[31] = ((scalar[31] ?? 0) & 127) | 64;
  return scalar;
}

function sealKey(
  secret: KeyObject,
  peer: Uint8Array,
  ephemeralPublic: Uint8Array,
  recipient: Uint8Array,
  context: string,
): Buffer {
  return Buffer.from(
    hkdfSync(
      "sha256",
      x25519Agree(secret, peer),
      Buffer.concat([ephemeralPublic, recipient]),
      utf8(`bucky device seal v1\n${context}`),
      KEY_BYTES,
    ),
  );
}

/**
 * The secret X25519 agrees between `secret` and the public key `peer` (32 bytes). A public
 * key of small order, or one that is no point, is a ProtocolError: it comes from outside.
 */
export function x25519Agree(secret: KeyObject, peer: Uint8Array): Buffer {
  let shared: Buffer;
  try {
    shared = diffieHellman({
      privateKey: secret,
      publicKey: createPublicKey({
        key: Buffer.concat([X25519_SPKI_PREFIX, peer]),
        format: "der",
        type: "spki",
      }),
    });
  } catch {
    // OpenSSL refuses a point of small order with a plain Error.
    throw new ProtocolError("the key agreement failed: a bad public key");
  }
  check(!shared.every((byte) => byte === 0), "the key agreement gave nothing: a bad public key");
  return shared;
}

/** An X25519 secret key from its (clamped) scalar. */
export function x25519Private(scalar: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, scalar]),
    format: "der",
    type: "pkcs8",
  });
}

function x25519PublicOf(secret: KeyObject): Uint8Array {
  const spki = createPublicKey(secret).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(X25519_SPKI_PREFIX.length));
}

function mod(n: bigint): bigint {
  const r = n % P;
  return r < 0n ? r + P : r;
}

/** n^(p-2) mod p. */
function inverse(n: bigint): bigint {
  let result = 1n;
  let base = mod(n);
  let exponent = P - 2n;
  while (exponent > 0n) {
    if (exponent & 1n) result = (result * base) % P;
    base = (base * base) % P;
    exponent >>= 1n;
  }
  return result;
}
