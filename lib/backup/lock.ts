/**
 * One writer at a time per repository: a backup, a prune or a restore of hot changesets
 * holds `locks/exclusive` while it runs. A second one is refused, saying who holds it. A
 * holder refreshes the lock every half minute, so a lock left by a process that was
 * killed goes stale and is taken over, rather than blocking backups for good.
 */
import { hostname } from "node:os";
import { BuckyError } from "../errors.ts";
import type { Backend } from "./backend.ts";

const LOCK = "locks/exclusive";
const REFRESH_MS = 30_000;
/** A lock not refreshed for this long belongs to a process that is gone. */
const STALE_MS = 3 * REFRESH_MS;

interface LockInfo {
  readonly hostname: string;
  readonly pid: number;
  readonly purpose: string;
  readonly refreshedAt: number;
}

export interface HeldLock {
  release(): Promise<void>;
}

export async function takeLock(
  backend: Backend,
  purpose: string,
  now = Date.now,
): Promise<HeldLock> {
  const mine = (): Uint8Array =>
    new TextEncoder().encode(
      JSON.stringify({
        hostname: hostname(),
        pid: process.pid,
        purpose,
        refreshedAt: now(),
      } satisfies LockInfo),
    );
  if (!(await backend.create(LOCK, mine()))) {
    const holder = await readLock(backend);
    if (holder && !isStale(holder, now())) {
      throw new BuckyError(
        "E_UNAVAILABLE",
        `the backup repository at ${backend.location} is busy: a ${holder.purpose} runs on ${holder.hostname} (pid ${holder.pid})`,
        "Wait for it to finish; a lock left by a process that died expires within two minutes.",
      );
    }
    // Stale: take it over. Two processes doing this at once both "win" only if they race
    // within the same instant after two minutes of silence; the next refresh tells.
    await backend.write(LOCK, mine());
  }
  let stopped = false;
  const timer = setInterval(() => {
    if (!stopped) void backend.write(LOCK, mine()).catch(() => {});
  }, REFRESH_MS);
  timer.unref?.();
  return {
    async release() {
      stopped = true;
      clearInterval(timer);
      await backend.remove(LOCK);
    },
  };
}

async function readLock(backend: Backend): Promise<LockInfo | undefined> {
  try {
    return JSON.parse(new TextDecoder().decode(await backend.read(LOCK))) as LockInfo;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function isStale(lock: LockInfo, nowMs: number): boolean {
  if (lock.hostname === hostname() && !alive(lock.pid)) return true;
  return nowMs - lock.refreshedAt > STALE_MS;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
