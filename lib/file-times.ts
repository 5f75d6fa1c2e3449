/**
 * A file's time, kept in nanoseconds (a tree's `mtimeNs`), as the seconds the utimes calls
 * take. A double of seconds since 1970 holds a time only to about 240 ns, and the runtime
 * turns it back into nanoseconds by truncating: a time on a whole millisecond (what `cp -p`,
 * tar and most tools set) came back a nanosecond earlier half the time, so the restored
 * file was a millisecond, even a second, older than the original (rsync then saw every such
 * file as changed). Half a microsecond more lands within the same microsecond, the
 * precision kept.
 */
export function utimesSeconds(mtimeNs: string | bigint): number {
  return (Number(BigInt(mtimeNs) / 1000n) + 0.5) / 1e6;
}
