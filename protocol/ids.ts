/**
 * Self-certifying identifiers. A zone id is the owner's Ed25519 public key and a device
 * id is the device's public key, in lowercase base32 behind a one-letter type prefix.
 * Whoever holds an id can verify what its key signed, with no third party; and an id is
 * a valid DNS label (53 characters of [a-z2-7]), so it can name a host.
 */

import type { Brand } from "./brand.ts";
import { PUBLIC_KEY_BYTES } from "./ed25519.ts";
import { fromBase32, toBase32 } from "./encoding.ts";

export type ZoneId = Brand<string, "ZoneId">;
export type DeviceId = Brand<string, "DeviceId">;

const ZONE_PREFIX = "z";
const DEVICE_PREFIX = "d";

export function zoneIdFromPublicKey(publicKey: Uint8Array): ZoneId {
  return `${ZONE_PREFIX}${toBase32(publicKey)}` as ZoneId;
}

export function deviceIdFromPublicKey(publicKey: Uint8Array): DeviceId {
  return `${DEVICE_PREFIX}${toBase32(publicKey)}` as DeviceId;
}

/** The public key an id names, or undefined when `text` is not an id of that type. */
export function publicKeyOfId(text: string, type: "zone" | "device"): Uint8Array | undefined {
  const prefix = type === "zone" ? ZONE_PREFIX : DEVICE_PREFIX;
  if (!text.startsWith(prefix)) return undefined;
  const key = fromBase32(text.slice(prefix.length));
  return key?.length === PUBLIC_KEY_BYTES ? key : undefined;
}

export function parseZoneId(text: string): ZoneId | undefined {
  return publicKeyOfId(text, "zone") ? (text as ZoneId) : undefined;
}

export function parseDeviceId(text: string): DeviceId | undefined {
  return publicKeyOfId(text, "device") ? (text as DeviceId) : undefined;
}
