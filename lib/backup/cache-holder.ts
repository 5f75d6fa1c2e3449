/**
 * Which backup of this home holds a repository's file cache (file-cache.ts) while it
 * commits (a backup, or a replica's snapshot): `<cache dir>/holder.json`, written once the write lock is taken and removed
 * before it is let go. Another run that finds the cache held reads it to say which backup
 * holds it, and whether that one is paused (stopped by a signal, or a laptop asleep), so a
 * person can resume or end it rather than wait on a lock that will not be let go.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";

export interface CacheHolder {
  readonly pid: number;
  /** What holds it, in words: "backup of this device to usb". */
  readonly job: string;
  /** When that started (RFC 3339). */
  readonly startedAt: string;
}

const HOLDER_FILE = "holder.json";
/** A holder file is one line of JSON; a larger one is none. */
const MAX_HOLDER_BYTES = 4096;

export function writeCacheHolder(dir: string, holder: CacheHolder): void {
  writeFileAtomic(join(dir, HOLDER_FILE), `${JSON.stringify(holder)}\n`);
}

export function forgetCacheHolder(dir: string): void {
  rmSync(join(dir, HOLDER_FILE), { force: true });
}

/** The backup that wrote the holder file, if one is there and whole. */
export function readCacheHolder(dir: string): CacheHolder | undefined {
  try {
    const text = readFileSync(join(dir, HOLDER_FILE), "utf8");
    if (text.length > MAX_HOLDER_BYTES) return undefined;
    const value = JSON.parse(text) as Partial<CacheHolder>;
    if (
      typeof value.pid !== "number" ||
      !Number.isSafeInteger(value.pid) ||
      value.pid <= 0 ||
      typeof value.job !== "string" ||
      typeof value.startedAt !== "string"
    )
      return undefined;
    return { pid: value.pid, job: value.job, startedAt: value.startedAt };
  } catch {
    // Absent (let go meanwhile), or half a file of a run killed as it wrote it.
    return undefined;
  }
}

/** Whether process `pid` is stopped (SIGSTOP, SIGTSTP, a debugger): its state in /proc is T or t. */
export function isPaused(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The state follows the command name, which is in parentheses and may hold any byte.
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "T" || state === "t";
  } catch {
    return false;
  }
}

/** The error of a run that cannot file its snapshot while `holder` holds the cache. */
export function cacheHeldError(holder: CacheHolder, paused: boolean, cause: unknown): BuckyError {
  const who = `another ${holder.job} (pid ${holder.pid}, started ${holder.startedAt})`;
  return new BuckyError(
    "E_UNAVAILABLE",
    paused
      ? `${who} is paused as it records what it read, and holds this device's backup file cache: this backup stored its data but filed no snapshot`
      : `${who} has held this device's backup file cache for too long: this backup stored its data but filed no snapshot`,
    paused
      ? `Let that backup go on (\`kill -CONT ${holder.pid}\`) or end it (\`kill ${holder.pid}\`), then run \`bucky backup run\` again: what this one stored is not stored twice.`
      : `Wait for it to finish, or end it (\`kill ${holder.pid}\`), then run \`bucky backup run\` again: what this one stored is not stored twice.`,
    { cause },
  );
}
