/**
 * What a request to the gateway names, checked once: its Host header, and its path made
 * canonical. The canonical path is what the gateway routes by, what it checks an app's
 * open paths against, and exactly what the app receives, so an app that decodes it once
 * cannot be led outside what was checked.
 */

/**
 * Whether a Host header is one host (a name, an IPv4 address or a bracketed IPv6
 * address) with an optional port: not missing, not two headers folded into one.
 */
export function isHostHeader(value: string | null): value is string {
  if (value === null) return false;
  const match =
    /^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::(\d{0,5}))?$/.exec(value);
  return match !== null && Number(match[1] ?? 0) <= 65535;
}

/** Segments of unreserved characters and sub-delimiters but `;`, with `:` and `@`. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9._~!$&'()*+,=:@-]*)+$/;

/** Characters RFC 3986 calls unreserved: percent-encoding one changes nothing. */
const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/**
 * The canonical form of a request's path (as the runtime parsed it: dot segments and
 * backslashes already resolved), or undefined when it is ambiguous and must be refused:
 * a `%` that encodes nothing, an encoded `/` or `\`, an encoded control character, an
 * encoded `%` before two hex digits (a double encoding), or a `..;` or `.;` segment (a
 * dot segment to some servers).
 * Encoded unreserved characters are decoded (`%61pi` is `api`), other encodings written
 * in capitals, and the dot segments that decoding uncovers resolved.
 */
export function canonicalPath(path: string): string | undefined {
  // Most paths have nothing to decode or resolve (no `%`, no `;`, no dot segment, nothing
  // the URL parser would encode or cut off): they are canonical as they are, and are
  // spared the decoding and a URL per request.
  if (PLAIN_PATH.test(path) && !path.includes("/.")) return path;
  // Only printable ASCII but `\` (the runtime encodes the rest; a raw one is a trick).
  if (!path.startsWith("/") || /[^!-~]|\\|%(?![0-9A-Fa-f]{2})/.test(path)) return undefined;
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (encoded, hex: string) => {
    const character = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(character) ? character : encoded.toUpperCase();
  });
  // Checked once decoded: `%25%36%31` is a double encoding too.
  if (/%(?:2F|5C|[01][0-9A-F]|7F|25[0-9A-Fa-f]{2})/.test(decoded)) return undefined;
  // Dot segments resolved as the runtime does. Appended, not resolved against a base, so
  // that a path starting `//` stays a path.
  const resolved = new URL(`http://gateway.invalid${decoded}`).pathname;
  if (resolved.split("/").some((segment) => /^\.\.?;/.test(segment))) return undefined;
  return resolved;
}
