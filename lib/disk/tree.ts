/**
 * A directory tree walked as it is: a link is an entry of its own, never followed. (Bun's
 * recursive readdir follows links to directories: in an app's data, `ln -s / root` had it
 * walk the whole machine, and `ln -s . self` threw ELOOP, where a takeover counted what it
 * kept aside.)
 */
import { lstatSync, readdirSync, type Stats } from "node:fs";
import { join } from "node:path";

/** Every entry under `dir` that is no directory (files, links, …), with its own stats. */
export function* entriesUnder(dir: string): Generator<{ path: string; stats: Stats }> {
  const pending = [dir];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    let names: string[];
    try {
      names = readdirSync(next);
    } catch {
      // Gone meanwhile, or not a directory.
      continue;
    }
    for (const name of names) {
      const path = join(next, name);
      let stats: Stats;
      try {
        stats = lstatSync(path);
      } catch {
        continue;
      }
      if (stats.isDirectory()) pending.push(path);
      else yield { path, stats };
    }
  }
}
