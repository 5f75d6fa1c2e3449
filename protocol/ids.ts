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
/** A publisher of app catalogs: the key its catalogs are signed with (protocol/catalog.ts). */
export type PublisherId = Brand<string, "PublisherId">;

const ZONE_PREFIX = "z";
const DEVICE_PREFIX = "d";
const PUBLISHER_PREFIX = "p";
const PREFIXES = { zone: ZONE_PREFIX, device: DEVICE_PREFIX, publisher: PUBLISHER_PREFIX };

export function zoneIdFromPublicKey(publicKey: Uint8Array): ZoneId {
  return `${ZONE_PREFIX}${toBase32(publicKey)}` as ZoneId;
}

export function deviceIdFromPublicKey(publicKey: Uint8Array): DeviceId {
  return `${DEVICE_PREFIX}${toBase32(publicKey)}` as DeviceId;
}

export function publisherIdFromPublicKey(publicKey: Uint8Array): PublisherId {
  return `${PUBLISHER_PREFIX}${toBase32(publicKey)}` as PublisherId;
}

/** The public key an id names, or undefined when `text` is not an id of that type. */
export function publicKeyOfId(
  text: string,
  type: "zone" | "device" | "publisher",
): Uint8Array | undefined {
  const prefix = PREFIXES[type];
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

export function parsePublisherId(text: string): PublisherId | undefined {
  return publicKeyOfId(text, "publisher") ? (text as PublisherId) : undefined;
}
