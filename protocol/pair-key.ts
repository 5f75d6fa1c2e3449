/**
 * A key two devices share, made from their device keys alone: each takes its own Ed25519
 * key and the other's public key to X25519 (the map of protocol/device-seal.ts) and agrees
 * the same secret, which HKDF-SHA256 binds to both public keys, the direction and a
 * purpose. Nobody else can make it: it needs one of the two device keys. A key is one
 * way, from one device to the other, so what one device authenticates with it can never
 * be passed back to that device as the other's.
 *
 *   key = HKDF-SHA256(ikm = X25519(a, B), salt = A_from ‖ B_to (Ed25519 public keys),
 *                     info = "bucky pair key v1\n" ‖ purpose, 32 bytes)
 *
 * Deterministic: no randomness, no I/O, no clock.
 */
import { hkdfSync, type KeyObject } from "node:crypto";
import {
  x25519Agree,
  x25519Private,
  x25519PublicFromEd25519,
  x25519ScalarFromSeed,
} from "./device-seal.ts";
import { utf8 } from "./encoding.ts";
import { check } from "./errors.ts";
import { type DeviceId, publicKeyOfId } from "./ids.ts";

export const PAIR_KEY_BYTES = 32;

/**
 * This device's half of every pair: its X25519 secret, made once from its Ed25519 seed,
 * when first needed (every opening of a zone makes these; `bucky status` needs none).
 */
export class PairKeys {
  private madeSecret: KeyObject | undefined;

  private readonly seed: Uint8Array;

  constructor(
    seed: Uint8Array,
    /** This device's id (of `seed`). */
    readonly self: DeviceId,
  ) {
    check(seed.length === 32, "an Ed25519 seed is 32 bytes");
    // A copy: the caller's bytes may be reused before the secret is made.
    this.seed = seed.slice();
  }

  private get secret(): KeyObject {
    this.madeSecret ??= x25519Private(x25519ScalarFromSeed(this.seed));
    return this.madeSecret;
  }

  /**
   * The key for `purpose` from device `from` to device `to`, one of which is this device:
   * the other device makes the same key from its own seed. Throws a ProtocolError for a
   * public key that is not usable (small order, not a point).
   */
  key(from: DeviceId, to: DeviceId, purpose: string): Uint8Array {
    check(from !== to, "a pair key is between two devices");
    check(from === this.self || to === this.self, "a pair key is made by one of its two devices");
    const fromPublic = publicKeyOfId(from, "device");
    const toPublic = publicKeyOfId(to, "device");
    check(fromPublic !== undefined && toPublic !== undefined, "not a device id");
    const peer = (from === this.self ? toPublic : fromPublic) as Uint8Array;
    // Anyone can name any device id: a bad key in one is the id's fault (a ProtocolError).
    const shared = x25519Agree(this.secret, x25519PublicFromEd25519(peer));
    return new Uint8Array(
      hkdfSync(
        "sha256",
        shared,
        Buffer.concat([fromPublic as Uint8Array, toPublic as Uint8Array]),
        utf8(`bucky pair key v1\n${purpose}`),
        PAIR_KEY_BYTES,
      ),
    );
  }
}
