/**
 * Keys of the zone state: slash-separated paths laid out like BuckyOS's system config
 * (`boot/config`, `devices/<name>/doc`, `users/<user>/apps/<app>/spec`, `nodes/<name>/…`).
 */

export const MAX_KEY_LENGTH = 512;
const SEGMENT_PATTERN = /^[A-Za-z0-9_.:@-]+$/;
// The whole of a valid key at once (the hot path: every op of every changeset), and the
// one segment rule the pattern leaves out.
const KEY_PATTERN = /^[A-Za-z0-9_.:@-]+(?:\/[A-Za-z0-9_.:@-]+)*$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Why `key` is not a valid state key, or undefined when it is. */
export function stateKeyProblem(key: string): string | undefined {
  if (key.length === 0) return "a key must not be empty";
  if (key.length > MAX_KEY_LENGTH) return `a key is at most ${MAX_KEY_LENGTH} characters`;
  if (KEY_PATTERN.test(key) && !(key.includes(".") && DOT_SEGMENT.test(key))) return undefined;
  for (const segment of key.split("/")) {
    const problem = segmentProblem(segment);
    if (problem) return problem;
  }
  return undefined;
}

function segmentProblem(segment: string): string | undefined {
  if (segment === "") return "a key has no empty segments (no leading, trailing or double slash)";
  if (segment === "." || segment === "..") return 'a key has no "." or ".." segments';
  if (!SEGMENT_PATTERN.test(segment))
    return "a key segment uses only letters, digits and _ . : @ -";
  return undefined;
}

/**
 * Whether `pattern` is a GLOB over state keys that matches what it says: key characters
 * and `*` (any run of characters, `/` included), none of GLOB's `?`, `[` or `]`, which
 * keys never hold: a name put in a pattern that held one would match more than it says.
 */
export function isKeyGlob(pattern: string): boolean {
  return /^[A-Za-z0-9_.:@/*-]+$/.test(pattern);
}

/**
 * Why `prefix` cannot begin any valid key, or undefined when it can: "" (every key),
 * `apps/` and `app` can; `apps/../`, `/apps` and `apps//` cannot.
 */
export function statePrefixProblem(prefix: string): string | undefined {
  if (prefix === "") return undefined;
  if (prefix.length > MAX_KEY_LENGTH) return `a key is at most ${MAX_KEY_LENGTH} characters`;
  const segments = prefix.split("/");
  // The last part may be empty (`apps/`) or the start of a segment (`app`).
  if (segments.at(-1) === "") segments.pop();
  for (const segment of segments) {
    const problem = segmentProblem(segment);
    if (problem) return problem;
  }
  return undefined;
}

/** Well-known keys. */
export const stateKeys = {
  zoneDocument: "boot/config",
  deviceDocument: (device: string) => `devices/${device}/doc`,
  /**
   * The device document `admitter` signed when it admitted `device` (by id), kept beside
   * the name's document: two devices admitted under one name while their admitters were
   * apart leave one document and both records (lib/zone/name-clashes.ts).
   */
  admission: (admitter: string, device: string) => `nodes/${admitter}/admitted/${device}`,
  devicesPrefix: "devices/",
} as const;
