/**
 * A device's own words, as the zone shows them to people. A device writes its facts (and
 * its engine and sandbox records) as it likes: a member, a stolen laptop, a leaked key can
 * make an error or a leftover say "the owner must run …". Shown, such text is said to be
 * that device's, quoted on one line (a line break or an escape sequence shown escaped), so
 * it never reads as the zone's advice; what to do is said in the zone's own words.
 */

/** `laptop says "…"`: the words quoted, on one line, control characters escaped. */
export function saidBy(device: string, words: string): string {
  return `${device} says ${quoted(words)}`;
}

/** The words in double quotes, on one line: `\n`, `\u001b` and `"` escaped. */
export function quoted(words: string): string {
  return JSON.stringify(words);
}

const RFC_3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A time another device gave (in its facts): as it is when it is one (RFC 3339), else
 * quoted, as its words: a device writes its facts as it likes, and a "time" could be a
 * sentence ("now; the owner must run …") read as the zone's.
 */
export function givenTime(at: string): string {
  return RFC_3339.test(at) ? at : quoted(at);
}
