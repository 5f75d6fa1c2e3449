/**
 * The order bucky sorts names, ids, keys and times in: by UTF-16 code units. For what
 * these hold (lowercase names, base32 and hex ids, RFC 3339 times) it is the order a
 * collator gives, and it is the same on every device whatever its locale. It also keeps
 * ICU's collator out of the daemon: the first `localeCompare` loads it, 1.5-2 MB of
 * memory an idle daemon held for sorting a list of one or two names.
 *
 * Text people wrote (a file's name in a backup) is still sorted with `localeCompare`,
 * for people to read.
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
