/**
 * A device's key as its home's snapshots hold it: sealed to the zone's owner
 * (protocol/device-seal.ts; the zone id is the owner's Ed25519 public key). The repository
 * is sealed only under the backup key, which every member holds and a revoked device may
 * have kept; sealed once more to the owner, the key opens only with the recovery phrase.
 *
 *   identity/device.key.sealed = "bucky-sealed-device-key-v1:" ‖ device id ‖ ":" ‖
 *                                base64url(sealed) ‖ "\n"
 *   sealed  = sealToDevice(plaintext = the device's 32-byte seed, device = the owner's key,
 *                          context = "bucky backup device key v1\n" ‖ zone ‖ "\n" ‖ device id)
 *
 * The device id in the clear says whose key it is without opening it (a home that still
 * holds its own key keeps it); the context binds it, and an opened key must be that
 * device's. Snapshots of an older bucky hold `identity/device.key` in the clear instead.
 */
import { openAsDevice, sealToDevice } from "../device-seal.ts";
import { signingKeyFromSeed } from "../ed25519.ts";
import { fromBase64url, fromUtf8, toBase64url, utf8 } from "../encoding.ts";
import { check } from "../errors.ts";
import {
  type DeviceId,
  deviceIdFromPublicKey,
  parseDeviceId,
  publicKeyOfId,
  type ZoneId,
  zoneIdFromPublicKey,
} from "../ids.ts";

/** The file's name in a snapshot's `identity/`. */
export const SEALED_DEVICE_KEY_FILE = "device.key.sealed";
/** Where an older bucky's snapshots hold the device key in the clear. */
export const CLEAR_DEVICE_KEY_FILE = "device.key";
/** The file is about 200 bytes; anything much larger is not one. */
export const MAX_SEALED_DEVICE_KEY_BYTES = 512;

const PREFIX = "bucky-sealed-device-key-v1:";
const SEED_BYTES = 32;

/** The file that holds the device key `seed` sealed to the owner of `zone`. */
export function sealDeviceKey(options: {
  readonly zone: ZoneId;
  readonly seed: Uint8Array;
  /** 32 fresh random bytes: the ephemeral X25519 secret. */
  readonly ephemeral: Uint8Array;
  /** 12 fresh random bytes. */
  readonly nonce: Uint8Array;
}): Uint8Array {
  check(options.seed.length === SEED_BYTES, "a device key is 32 bytes");
  const owner = publicKeyOfId(options.zone, "zone");
  check(owner !== undefined, "not a zone id");
  const device = deviceIdFromPublicKey(signingKeyFromSeed(options.seed).publicKey);
  const sealed = sealToDevice({
    plaintext: options.seed,
    device: owner,
    context: context(options.zone, device),
    ephemeral: options.ephemeral,
    nonce: options.nonce,
  });
  return utf8(`${PREFIX}${device}:${toBase64url(sealed)}\n`);
}

/** Whose key the file holds, read without opening it. Throws ProtocolError. */
export function sealedDeviceKeyOf(file: Uint8Array): DeviceId {
  return parse(file).device;
}

/**
 * The device key in `file`, opened with the owner's key (`ownerSeed`): its seed and its
 * device. Throws ProtocolError when it is not for this owner's zone, is altered, or is
 * not the key of the device it names.
 */
export function openDeviceKey(options: {
  readonly file: Uint8Array;
  readonly ownerSeed: Uint8Array;
}): { readonly device: DeviceId; readonly seed: Uint8Array } {
  const { device, sealed } = parse(options.file);
  const owner = signingKeyFromSeed(options.ownerSeed).publicKey;
  const seed = openAsDevice({
    sealed,
    seed: options.ownerSeed,
    device: owner,
    context: context(zoneIdFromPublicKey(owner), device),
  });
  check(seed.length === SEED_BYTES, "the sealed device key is not 32 bytes");
  check(
    deviceIdFromPublicKey(signingKeyFromSeed(seed).publicKey) === device,
    "the sealed device key is not the key of the device it names",
  );
  return { device, seed };
}

function parse(file: Uint8Array): { device: DeviceId; sealed: Uint8Array } {
  check(file.length <= MAX_SEALED_DEVICE_KEY_BYTES, "a sealed device key file is too large");
  const text = fromUtf8(file);
  check(text !== undefined, "a sealed device key file is not UTF-8");
  check(
    text.startsWith(PREFIX) && text.endsWith("\n"),
    `a sealed device key file starts with "${PREFIX}" and is one line`,
  );
  const [id, body, ...rest] = text.slice(PREFIX.length, -1).split(":");
  check(
    rest.length === 0 && id !== undefined && body !== undefined,
    "a malformed sealed device key",
  );
  const device = parseDeviceId(id);
  check(device !== undefined, "a sealed device key names no device");
  const sealed = fromBase64url(body);
  check(sealed !== undefined, "a sealed device key is not base64url");
  return { device, sealed };
}

/** Binds the sealed key to its zone and device: it opens for nothing else. */
function context(zone: ZoneId, device: DeviceId): string {
  return ["bucky backup device key v1", zone, device].join("\n");
}
