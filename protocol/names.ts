/**
 * Zone and device names. They appear in state keys (`devices/<name>/doc`) and will name
 * hosts (`<device>.<zone>`), so both follow the DNS label rule: 1 to 63 characters of
 * lowercase letters, digits and hyphens, starting with a letter and not ending with a
 * hyphen. Checking returns a reason instead of throwing: a bad name is bad input, not a
 * protocol fault.
 */

import type { Brand } from "./brand.ts";

export type ZoneName = Brand<string, "ZoneName">;
export type DeviceName = Brand<string, "DeviceName">;
/** An app's id: it names the app in state keys and, through the gateway, in host names. */
export type AppName = Brand<string, "AppName">;

export const MAX_NAME_LENGTH = 63;
const NAME_PATTERN = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;

export type NameCheck<T> = { ok: true; name: T } | { ok: false; reason: string };

function checkName<T extends string>(text: string): NameCheck<T> {
  // A good name (the gateway checks one per request) passes in one test; the rest are
  // looked at closely to say what is wrong.
  if (text.length <= MAX_NAME_LENGTH && NAME_PATTERN.test(text))
    return { ok: true, name: text as T };
  if (text.length === 0) return { ok: false, reason: "it is empty" };
  if (text.length > MAX_NAME_LENGTH) {
    return {
      ok: false,
      reason: `it is ${text.length} characters long; the limit is ${MAX_NAME_LENGTH}`,
    };
  }
  // Name the first offending character; anything but printable ASCII is shown by its code
  // point, since control, zero-width and direction characters are invisible in a terminal.
  for (const ch of text) {
    if (!/[a-z0-9-]/.test(ch)) {
      const code = ch.codePointAt(0) ?? 0;
      const shown =
        code < 0x20 || code > 0x7e ? `U+${code.toString(16).padStart(4, "0")}` : `"${ch}"`;
      return {
        ok: false,
        reason: `it contains ${shown}; use lowercase letters, digits and hyphens`,
      };
    }
  }
  if (!NAME_PATTERN.test(text)) {
    return { ok: false, reason: "it must start with a letter and must not end with a hyphen" };
  }
  return { ok: true, name: text as T };
}

export function checkZoneName(text: string): NameCheck<ZoneName> {
  return checkName<ZoneName>(text);
}

export function checkDeviceName(text: string): NameCheck<DeviceName> {
  return checkName<DeviceName>(text);
}

export function checkAppName(text: string): NameCheck<AppName> {
  return checkName<AppName>(text);
}

/**
 * Turns a free-form label (a host name) into a valid name, or undefined when nothing
 * usable is left. Used only for defaults; what a user types is checked, never rewritten.
 */
export function suggestName(label: string): string | undefined {
  const cleaned = label
    .toLowerCase()
    .split(".")[0]
    ?.replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .slice(0, MAX_NAME_LENGTH)
    .replace(/-+$/, "");
  return cleaned ? cleaned : undefined;
}

const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Whether `text` is a host name as bucky keeps one (lowercase, no trailing dot): dot-separated
 * labels of letters, digits and hyphens, 253 characters at most.
 */
export function isHostName(text: string): boolean {
  return HOST_NAME.test(text);
}

/**
 * Whether `text` is an IPv6 address written in hex groups and colons, as inside the
 * brackets of `[::1]:443` (no zone id, no dotted IPv4 tail): eight groups of one to four
 * hex digits, or fewer with one `::` standing for the rest. The tests compare it with
 * node:net's isIP, which took half a millisecond of `bucky status` to load for this check.
 */
export function isIPv6Literal(text: string): boolean {
  if (!/^[0-9a-fA-F:]{2,39}$/.test(text)) return false;
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = halves.flatMap((half) => (half === "" ? [] : half.split(":")));
  if (!groups.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return false;
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}
