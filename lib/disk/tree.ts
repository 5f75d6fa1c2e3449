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
    } catch (error) {
      // Gone meanwhile: nothing there. Unreadable (EACCES, EIO) is thrown: taken for empty,
      // a takeover replaced data it could not see without keeping it aside.
      if (gone(error)) continue;
      throw error;
    }
    for (const name of names) {
      const path = join(next, name);
      let stats: Stats;
      try {
        stats = lstatSync(path);
      } catch (error) {
        if (gone(error)) continue;
        throw error;
      }
      if (stats.isDirectory()) pending.push(path);
      else yield { path, stats };
    }
  }
}

/** Whether `error` says a path is gone (or was no directory), as a walk meets it meanwhile. */
function gone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
