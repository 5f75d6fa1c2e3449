/**
 * One backup of this device to a target at a time. Two would each read every file, seal it
 * and upload it (the second cannot see what the first has not indexed yet), and file two
 * snapshots of the same moment: twice the bytes sent and stored until a prune, and the
 * second stops at the file cache anyway if the first is paused there. The second waits for
 * the first, then stores only what changed since; one that is paused is named at once. The scheduled run,
 * `bucky backup run` and the panel's each start a process of their own, so the lock is a
 * file of the home: `<home>/backup/running/<target>.json`, holding the pid, the process's
 * start time (a pid used again by another process is not the holder) and when the run
 * began. A run killed (SIGKILL, power cut) leaves the file behind: its process is gone, so
 * the next run takes it over; nothing needs clearing by hand.
 */
import { linkSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { BuckyError } from "../errors.ts";
import type { HomePaths } from "../home.ts";
import { isPaused } from "./cache-holder.ts";

export interface RunHolder {
  readonly pid: number;
  /** The process's start time, in clock ticks since boot (/proc/<pid>/stat): tells a pid used again. */
  readonly since: string;
  /** When the run began (RFC 3339). */
  readonly startedAt: string;
}

export interface HeldRun {
  release(): void;
}

/** A lock file is a line of JSON; a larger one is none (and taken over). */
const MAX_RUN_FILE_BYTES = 4096;

function runFile(paths: HomePaths, target: string): string {
  return join(paths.backupDir, "running", `${target}.json`);
}

/** How long a run waits for the one running before it gives up (a first backup takes long). */
export const RUN_WAIT_MS = 15 * 60_000;
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 1_000;

/**
 * Holds the backup of this device to `target` until released. While another live run holds
 * it, waits for it to finish (then backs up what changed since, uploading nothing twice),
 * up to `waitMs`, telling `onWait` once; throws E_UNAVAILABLE, naming that run, at once
 * when it is paused (it would never finish), or when the wait runs out.
 */
export async function holdBackupRun(
  paths: HomePaths,
  target: string,
  /** The clock the run's start is said by (when it takes the hold, not when it asked). */
  now: () => number,
  options: { readonly waitMs?: number; readonly onWait?: (holder: RunHolder) => void } = {},
): Promise<HeldRun> {
  const deadline = Date.now() + (options.waitMs ?? RUN_WAIT_MS);
  let said = false;
  for (let pollMs = POLL_MIN_MS; ; pollMs = Math.min(POLL_MAX_MS, pollMs * 2)) {
    const held = tryHoldBackupRun(paths, target, new Date(now()));
    if ("release" in held) return held;
    if (isPaused(held.pid) || Date.now() >= deadline) throw runningError(target, held);
    if (!said) options.onWait?.(held);
    said = true;
    await Bun.sleep(pollMs);
  }
}

/**
 * The live run that holds the backup of this device to `target` now (a paused one too),
 * if any: for the schedule, which leaves the target to it rather than start one that
 * would wait for it, or be refused.
 */
export function heldBackupRun(
  paths: HomePaths,
  target: string,
): (RunHolder & { readonly paused: boolean }) | undefined {
  const seen = readRaw(runFile(paths, target));
  const holder = seen === undefined ? undefined : parseHolder(seen);
  if (!holder || !isLive(holder)) return undefined;
  return { ...holder, paused: isPaused(holder.pid) };
}

/** Holds it now, or says which live run does. */
function tryHoldBackupRun(paths: HomePaths, target: string, startedAt: Date): HeldRun | RunHolder {
  const path = runFile(paths, target);
  mkdirSync(join(paths.backupDir, "running"), { recursive: true, mode: 0o700 });
  const mine: RunHolder = {
    pid: process.pid,
    since: processStart(process.pid) ?? "",
    startedAt: startedAt.toISOString(),
  };
  const text = `${JSON.stringify(mine)}\n`;
  // Written whole beside it, then linked into place: a reader never sees half a file, and
  // the link fails where another run's is there.
  const temp = `${path}.${process.pid}.new`;
  writeFileAtomic(temp, text);
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(temp, path);
        return { release: () => releaseIf(path, text) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const seen = readRaw(path);
      if (seen === undefined) continue; // let go meanwhile
      const holder = parseHolder(seen);
      if (holder && isLive(holder)) return holder;
      takeOverStale(path, seen);
    }
    throw new BuckyError(
      "E_UNAVAILABLE",
      `another backup of this device to ${target} was starting at the same moment`,
      "Run `bucky backup run` again in a moment.",
    );
  } finally {
    rmSync(temp, { force: true });
  }
}

function runningError(target: string, holder: RunHolder): BuckyError {
  const who = `a backup of this device to ${target} is already running since ${holder.startedAt} (pid ${holder.pid})`;
  if (isPaused(holder.pid))
    return new BuckyError(
      "E_UNAVAILABLE",
      `${who}, and is paused: this one did not start`,
      `Let that backup go on (\`kill -CONT ${holder.pid}\`) or end it (\`kill ${holder.pid}\`), then run \`bucky backup run\` again.`,
    );
  return new BuckyError(
    "E_UNAVAILABLE",
    `${who}, and did not finish while this one waited: this one did not start, as it would read and upload the same files again`,
    "Its snapshot is filed when it is done (`bucky backup list`); run `bucky backup run` again after, for a newer one.",
  );
}

/**
 * Moves the stale file `seen` out of the way. Renamed, then checked: two runs taking over at
 * once may find the other's fresh file in its place, which is put back.
 */
function takeOverStale(path: string, seen: string): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (readRaw(aside) !== seen) {
    try {
      linkSync(aside, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  rmSync(aside, { force: true });
}

function releaseIf(path: string, text: string): void {
  // Only its own: a run paused so long that its file was judged stale has none left.
  if (readRaw(path) === text) rmSync(path, { force: true });
}

function readRaw(path: string): string | undefined {
  try {
    const text = readFileSync(path, "utf8");
    return text.length > MAX_RUN_FILE_BYTES ? "" : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

function parseHolder(text: string): RunHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<RunHolder>;
    if (
      typeof value.pid !== "number" ||
      !Number.isSafeInteger(value.pid) ||
      value.pid <= 0 ||
      typeof value.since !== "string" ||
      typeof value.startedAt !== "string"
    )
      return undefined;
    return { pid: value.pid, since: value.since, startedAt: value.startedAt };
  } catch {
    return undefined;
  }
}

/** Whether the holder's process is still the one that wrote the file (a paused one too). */
function isLive(holder: RunHolder): boolean {
  const start = processStart(holder.pid);
  return start !== undefined && start === holder.since;
}

/** When process `pid` started (field 22 of /proc/<pid>/stat); undefined when there is none. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name, which is in parentheses and may hold any byte.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // A zombie (killed, not yet reaped by its parent) runs no more.
    if (fields[0] === "Z" || fields[0] === "X") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}
