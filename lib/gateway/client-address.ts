/**
 * A client's address as the gateway's rules name it: an IPv4 address as it is (one that
 * reaches a gateway listening on IPv6 as IPv4-mapped, `::ffff:192.0.2.7`, as its IPv4), an
 * IPv6 address lowercased and compressed. Rules match it exactly, so a rule written
 * `2001:DB8::1` or for a mapped address must be the form the gateway sees.
 */
import { isIP } from "node:net";

const MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** The address the gateway saw (already compressed by the runtime), as rules name it. */
export function clientAddress(seen: string): string {
  return seen.length <= 22 && seen.charCodeAt(0) === 58 /* ":" */
    ? (MAPPED.exec(seen)?.[1] ?? seen)
    : seen;
}

/** `text` as rules name it, or undefined when it is no IP address (a zone index included). */
export function ruleClientAddress(text: string): string | undefined {
  const version = isIP(text);
  if (version === 4) return text;
  if (version !== 6 || text.includes("%")) return undefined;
  const mapped = MAPPED.exec(text)?.[1];
  if (mapped !== undefined) return isIP(mapped) === 4 ? mapped : undefined;
  return new URL(`http://[${text}]`).hostname.slice(1, -1);
}
