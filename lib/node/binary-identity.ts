/**
 * Which file a bucky runs from. A rebuild or an upgrade writes a new file at the binary's
 * path (a new inode), and a daemon started before runs on from the old one: `bucky up`
 * compares the daemon's (`/proc/self/exe`, the file it runs even once replaced) with the
 * file at its own path, and restarts a node that runs another.
 */
import { statSync } from "node:fs";

export interface BinaryIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** The file at `path` (followed through links), or of this process; undefined when none is there. */
export function binaryIdentity(path = "/proc/self/exe"): BinaryIdentity | undefined {
  try {
    const stat = statSync(path);
    return { dev: stat.dev, ino: stat.ino };
  } catch {
    return undefined;
  }
}

/** Whether a daemon that said `ran` runs the file at `path` (a daemon that said none does not). */
export function runsFile(ran: BinaryIdentity | undefined, path: string): boolean {
  const here = binaryIdentity(path);
  return ran !== undefined && here !== undefined && ran.dev === here.dev && ran.ino === here.ino;
}
