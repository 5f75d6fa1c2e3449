/**
 * A backup target as the zone knows it, at `system/backup/targets/<name>`: every device
 * sees every target and backs up to it, itself or through the device that added it (its
 * "via", the one that can reach it). No secret is in it (an SFTP target logs in with a key
 * that stays on the via device); the server's host key, pinned when the target was added,
 * is, so whoever connects checks the same server.
 *
 *   JSON { v: 1, name, url, via, hostKey?, addedAt }
 */
import { check } from "../errors.ts";
import { checkDeviceName, type DeviceName } from "../names.ts";
import { isRecord, requireOnlyFields, requireString } from "../shape.ts";

export const ZONE_TARGET_VERSION = 1;
export const ZONE_TARGET_PREFIX = "system/backup/targets/";
/** A target's name: short, and a single state key segment. */
export const TARGET_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const MAX_URL_LENGTH = 1024;
const MAX_HOST_KEY_LENGTH = 2048;
const MAX_TIME_LENGTH = 40;

export interface ZoneTarget {
  readonly name: string;
  /** A directory on the via device, or `sftp://user@host[:port]/path` (never a password). */
  readonly url: string;
  /** The device that added it and reaches it. */
  readonly via: DeviceName;
  /** The SFTP server's host key, as pinned when the target was added. */
  readonly hostKey?: string;
  /** RFC 3339. */
  readonly addedAt: string;
}

export function zoneTargetKey(name: string): string {
  return `${ZONE_TARGET_PREFIX}${name}`;
}

export function encodeZoneTarget(target: ZoneTarget): string {
  return JSON.stringify({
    v: ZONE_TARGET_VERSION,
    name: target.name,
    url: target.url,
    via: target.via,
    ...(target.hostKey ? { hostKey: target.hostKey } : {}),
    addedAt: target.addedAt,
  });
}

/** Parses the record at `key` (its JSON value). Throws ProtocolError when it is not one. */
export function decodeZoneTarget(key: string, value: unknown): ZoneTarget {
  check(key.startsWith(ZONE_TARGET_PREFIX), `${key} is not a backup target's key`);
  check(isRecord(value), `${key} is not a backup target`);
  requireOnlyFields(value, ["v", "name", "url", "via", "hostKey", "addedAt"], key);
  check(value.v === ZONE_TARGET_VERSION, `${key} is version ${String(value.v)}, not 1`);
  const name = requireString(value.name, `${key} name`, 32);
  check(TARGET_NAME.test(name), `${key} has an invalid name`);
  check(key === zoneTargetKey(name), `${key} holds the target ${name}`);
  const url = requireString(value.url, `${key} url`, MAX_URL_LENGTH);
  check(urlProblem(url) === undefined, `${key} url: ${urlProblem(url)}`);
  const via = checkDeviceName(requireString(value.via, `${key} via`, 64));
  check(via.ok, `${key} via is not a device name`);
  const hostKey =
    value.hostKey === undefined
      ? undefined
      : requireString(value.hostKey, `${key} hostKey`, MAX_HOST_KEY_LENGTH);
  const addedAt = requireString(value.addedAt, `${key} addedAt`, MAX_TIME_LENGTH);
  return { name, url, via: via.name, ...(hostKey ? { hostKey } : {}), addedAt };
}

/** Why `url` cannot name a zone's target (a relative path, a password in it), or undefined. */
export function urlProblem(url: string): string | undefined {
  if (url.startsWith("sftp://")) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return "it is not a URL";
    }
    if (parsed.password) return "it holds a password";
    return undefined;
  }
  if (!url.startsWith("/")) return "it is neither an absolute directory nor an sftp:// URL";
  if ([...url].some((ch) => (ch.codePointAt(0) ?? 0) < 0x20)) return "it holds control characters";
  return undefined;
}
