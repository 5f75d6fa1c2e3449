/**
 * Who may work on a repository at once. Backups, verifies and restores only add files or
 * read them, so any number run together, from any devices: each holds a shared lock of its
 * own, `locks/shared-<random>`. A prune deletes what no snapshot uses, which must not
 * happen under a backup that is about to use it: it holds `locks/exclusive`, and only once
 * no shared lock is held. A lock holder refreshes its file every half minute, so the lock
 * of a process that was killed goes stale and stops counting, rather than blocking the
 * repository for good.
 *
 * The two never miss each other: each writes its own lock first and looks for the other's
 * after. A backup that finds a prune waits for it (a prune is short); a prune that finds
 * backups gives up at once, and the schedule tries again later.
 *
 * A lock is judged by one clock, the one of the device that reaches the target (its via):
 * that device stamps the locks members take through it with its own time (stampedLock) and
 * says how old a lock is as it reads it out to them (agedLock). A member's clock behind
 * would otherwise make its live lock look dead to a prune, which deletes the packs its
 * backup just wrote; one ahead would take a live prune's lock for stale.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { BuckyError } from "../errors.ts";
import type { Backend } from "./backend.ts";

const EXCLUSIVE = "locks/exclusive";
const SHARED_PREFIX = "shared-";
const REFRESH_MS = 30_000;
/** A lock not refreshed for this long belongs to a process that is gone. */
const STALE_MS = 3 * REFRESH_MS;
/** How long a backup waits for a prune to finish before giving up (unavailable). */
export const DEFAULT_WAIT_MS = 15 * 60_000;
const POLL_MIN_MS = 50;
const POLL_MAX_MS = 2_000;
/**
 * A lock file is read only up to this size: any holder of the backup key can write one,
 * and every backup and prune reads them. One is a line of JSON, some 100 bytes (a via
 * takes at most 4 KiB from a member, and stamps it). A larger one is no lock: read as one
 * that does not parse.
 */
export const MAX_LOCK_FILE_BYTES = 16 * 1024;

interface LockInfo {
  readonly hostname: string;
  readonly pid: number;
  readonly purpose: string;
  readonly refreshedAt: number;
  /** The device that holds it, when it works through another device (set by that device). */
  readonly device?: string;
  /** How old the via device found it as it read it out, by its own clock. */
  readonly ageMs?: number;
  /**
   * Random, per hold of the exclusive lock: a prune tells by it that the lock is still its
   * own, not another prune's that took it over as stale (absent: a shared lock, or an older bucky's).
   */
  readonly token?: string;
}

export interface HeldLock {
  release(): Promise<void>;
  /**
   * Throws (unavailable) when the lock was taken away: a process paused past the stale
   * bound (a laptop asleep) finds that a prune judged it gone, removed its lock and pruned,
   * maybe the packs it wrote. A backup checks before it files its snapshot, which would
   * otherwise name data the prune removed. A prune checks before every delete (each
   * `remove` of checkingDeletes): paused past the stale bound, a backup may have gone on
   * meanwhile, using packs the prune is about to delete as unused.
   */
  check(): Promise<void>;
}

export interface LockOptions {
  readonly now?: () => number;
  /** How long a shared lock waits for an exclusive one. */
  readonly waitMs?: number;
  /** Told once when it has to wait, with who holds the repository. */
  readonly onWait?: (holder: string) => void;
  /**
   * For work that only reads (a verify, a restore): where the target takes no writes (full,
   * or read-only), it goes on without a lock file of its own, and this is told why. A
   * prune cannot start there either, as it writes its lock first; one that did once space
   * was freed would make the work fail on what it removed (every blob read is checked),
   * never read wrong bytes. Without it, such a target refuses the lock.
   */
  readonly onUnwritable?: (error: BuckyError) => void;
}

/**
 * Takes a shared lock, for work that only adds or reads: waits while a prune holds the
 * exclusive lock (up to `waitMs`), then holds its own until released.
 */
export async function takeSharedLock(
  backend: Backend,
  purpose: string,
  options: LockOptions = {},
): Promise<HeldLock> {
  const now = options.now ?? Date.now;
  const name = `locks/${SHARED_PREFIX}${randomBytes(16).toString("hex")}`;
  const deadline = now() + (options.waitMs ?? DEFAULT_WAIT_MS);
  let said = false;
  for (let pollMs = POLL_MIN_MS; ; pollMs = Math.min(POLL_MAX_MS, pollMs * 2)) {
    // A live prune is waited for without a lock file of this one's: the prune takes any
    // shared lock it finds while it holds the repository for one that went on past it.
    let prune = await readLock(backend, EXCLUSIVE);
    if (!prune || isStale(prune, now())) {
      // Written first, looked for the prune after: the two never miss each other.
      const unwritable = await createUnlessUnwritable(backend, name, purpose, now(), options);
      prune = await readLock(backend, EXCLUSIVE);
      if (!prune || isStale(prune, now())) {
        if (!unwritable) return hold(backend, name, purpose, now);
        options.onUnwritable?.(unwritable);
        return { release: async () => {}, check: async () => {} };
      }
      if (!unwritable) await backend.remove(name);
    }
    if (now() >= deadline) throw busy(backend, prune);
    if (!said) options.onWait?.(describe(prune));
    said = true;
    await Bun.sleep(pollMs);
  }
}

/**
 * Writes the shared lock `name`; where the target takes no writes (full, read-only) and the
 * work may go on without (onUnwritable), the error that said so instead.
 */
async function createUnlessUnwritable(
  backend: Backend,
  name: string,
  purpose: string,
  atMs: number,
  options: LockOptions,
): Promise<BuckyError | undefined> {
  try {
    await backend.create(name, lockBytes(purpose, atMs));
    return undefined;
  } catch (error) {
    const unwritable =
      error instanceof BuckyError && (error.code === "E_IO" || error.code === "E_PERMISSION");
    if (unwritable && options.onUnwritable) return error;
    throw error;
  }
}

/**
 * Takes the exclusive lock, for a prune: refused (unavailable) while another prune holds
 * it, or while any backup, verify or restore holds a shared lock. Stale locks are cleared.
 */
export async function takeExclusiveLock(
  backend: Backend,
  purpose: string,
  options: Pick<LockOptions, "now"> = {},
): Promise<HeldLock> {
  const now = options.now ?? Date.now;
  const token = randomBytes(16).toString("hex");
  const created = await backend
    .create(EXCLUSIVE, lockBytes(purpose, now(), token))
    .catch((error: unknown) => {
      // A full target's own hint is to prune, which cannot start there: say what can.
      if (!(error instanceof BuckyError && error.code === "E_IO")) throw error;
      throw new BuckyError(
        "E_IO",
        `${error.message}: a ${purpose} cannot start there, as it first writes its lock`,
        "Make room on that disk (move off files that are not its backups, or move the repository to a larger disk), then run it again. Verifies and restores still work meanwhile.",
        { cause: error },
      );
    });
  if (!created) {
    const holder = await readLock(backend, EXCLUSIVE);
    if (holder && !isStale(holder, now())) throw busy(backend, holder);
    // Stale: take it over. Two processes doing this at once both "win" only if they race
    // within the same instant after minutes of silence; the next refresh tells.
    await backend.write(EXCLUSIVE, lockBytes(purpose, now(), token));
  }
  const held = hold(backend, EXCLUSIVE, purpose, now, token);
  try {
    for (const file of await backend.list("locks")) {
      if (!file.startsWith(SHARED_PREFIX)) continue;
      const shared = await readLock(backend, `locks/${file}`);
      if (!shared) continue;
      if (isStale(shared, now())) await backend.remove(`locks/${file}`);
      else throw busy(backend, shared);
    }
  } catch (error) {
    await held.release();
    throw error;
  }
  return held;
}

/**
 * Holds the lock at `path`, refreshing it. The exclusive lock (`token` given) is held
 * only while no one else may have taken it for stale, by the one clock that judges it (the
 * device's that reaches the target: a prune runs nowhere else): a refresh more than the
 * stale bound after the one before (the process paused, a laptop asleep) is too late, as
 * a backup may have gone on past it meanwhile without leaving a trace; and while it is
 * held, it is still its own (no other prune took it over) and no shared lock has appeared
 * (a backup that went on past it, judging by another clock).
 */
function hold(
  backend: Backend,
  path: string,
  purpose: string,
  now: () => number,
  token?: string,
): HeldLock {
  let stopped = false;
  let lost = false;
  let writtenAt = now();
  /** Whether the lock file is still there (and its own): one that went stale was removed by a prune. */
  const stillThere = async (): Promise<boolean> => {
    if (token === undefined) {
      try {
        await backend.read(path, MAX_LOCK_FILE_BYTES);
        return true;
      } catch (error) {
        if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return false;
        throw error;
      }
    }
    return (await readLock(backend, path))?.token === token;
  };
  const heldSince = () => token === undefined || now() - writtenAt <= STALE_MS;
  // Never written again once gone: that would hide from check() that it was taken away.
  const refresh = async () => {
    if (!heldSince() || !(await stillThere())) lost = true;
    else if (!stopped) {
      const at = now();
      await backend.write(path, lockBytes(purpose, at, token));
      // Until written, the time before stood in the file: too old by now, and a backup
      // may have read it so.
      if (token !== undefined && now() - writtenAt > STALE_MS) lost = true;
      else writtenAt = at;
    }
  };
  const timer = setInterval(() => {
    if (!stopped && !lost) void refresh().catch(() => {});
  }, REFRESH_MS);
  timer.unref?.();
  return {
    async release() {
      stopped = true;
      clearInterval(timer);
      // Another prune's, once it took this one over: left to it.
      if (token === undefined || (await stillThere())) await backend.remove(path);
    },
    async check() {
      if (
        !lost &&
        !(
          heldSince() &&
          (await stillThere()) &&
          (token === undefined || (await noSharedLock(backend)))
        )
      )
        lost = true;
      if (!lost) return;
      if (token !== undefined)
        throw new BuckyError(
          "E_UNAVAILABLE",
          `this ${purpose} lost its hold on the backup repository at ${backend.location}: it was paused so long that its lock went stale, and other work may have gone on there; it deleted nothing more`,
          "Nothing is lost: what it left is deleted by the next prune, which the schedule runs by itself, or run it again.",
        );
      throw new BuckyError(
        "E_UNAVAILABLE",
        `this ${purpose} lost its hold on the backup repository at ${backend.location}: it was paused so long that a prune took it over`,
        "Nothing of it was filed as a snapshot. Run it again: it stores again what the prune removed.",
      );
    },
  };
}

/** Whether no shared lock is there (checked by the exclusive lock's holder only). */
async function noSharedLock(backend: Backend): Promise<boolean> {
  return !(await backend.list("locks")).some((file) => file.startsWith(SHARED_PREFIX));
}

/**
 * `backend` with each `remove` checking first that `lock` is still held (HeldLock.check):
 * what a prune works through, so no delete of its own, nor of the repository's for it (old
 * index files), goes on after another device's backup may have used what it deletes.
 */
export function checkingDeletes(backend: Backend, lock: () => HeldLock | undefined): Backend {
  return new Proxy(backend, {
    get(target, key) {
      if (key === "remove")
        return async (path: string) => {
          await lock()?.check();
          await target.remove(path);
        };
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

function lockBytes(purpose: string, atMs: number, token?: string): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      hostname: hostname(),
      pid: process.pid,
      purpose,
      refreshedAt: atMs,
      ...(token !== undefined ? { token } : {}),
    } satisfies LockInfo),
  );
}

async function readLock(backend: Backend, path: string): Promise<LockInfo | undefined> {
  try {
    const bytes = await backend.read(path, MAX_LOCK_FILE_BYTES);
    const lock = JSON.parse(new TextDecoder().decode(bytes)) as LockInfo;
    if (backend.agesLocks || typeof lock !== "object" || lock === null) return lock;
    // An age written into the file itself is its writer's word: a lock dated 0 ms old
    // would never go stale, and keep every prune out for good.
    const { ageMs: _, ...said } = lock;
    return said;
  } catch (error) {
    if (error instanceof BuckyError && error.code === "E_NOT_FOUND") return undefined;
    if (error instanceof BuckyError && error.code === "E_TOO_LARGE") return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

function busy(backend: Backend, holder: LockInfo): BuckyError {
  return new BuckyError(
    "E_UNAVAILABLE",
    `the backup repository at ${backend.location} is busy: ${describe(holder)}`,
    holder.purpose === "prune"
      ? "Try again when it is done; a lock left by a process that died expires within two minutes."
      : "A prune waits for backups to finish: the schedule prunes later by itself.",
  );
}

function describe(holder: LockInfo): string {
  return `a ${holder.purpose} runs on ${holder.device ?? holder.hostname} (pid ${holder.pid})`;
}

function isStale(lock: LockInfo, nowMs: number): boolean {
  if (typeof lock.refreshedAt !== "number") return true;
  if (lock.device === undefined && lock.hostname === hostname() && !alive(lock.pid)) return true;
  const ageMs = typeof lock.ageMs === "number" ? lock.ageMs : nowMs - lock.refreshedAt;
  return ageMs > STALE_MS;
}

/**
 * A lock a member takes or refreshes through this device (its via), in its name and dated
 * by this device's clock, whatever time it gave: the via judges it by that clock.
 */
export function stampedLock(lock: object, device: string, nowMs: number): Uint8Array {
  // An age is the via's to say as it reads a lock out, never the member's to write.
  const { ageMs: _, ...said } = lock as { ageMs?: unknown };
  return new TextEncoder().encode(JSON.stringify({ ...said, device, refreshedAt: nowMs }));
}

/**
 * A lock file as this device (the via) reads it out to a member: with how old it is by
 * this device's clock, which the member judges it by instead of its own. Anything that is
 * not a lock is as it was.
 */
export function agedLock(bytes: Uint8Array, nowMs: number): Uint8Array {
  let lock: unknown;
  try {
    lock = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return bytes;
  }
  if (typeof lock !== "object" || lock === null || Array.isArray(lock)) return bytes;
  const { refreshedAt } = lock as { refreshedAt?: unknown };
  if (typeof refreshedAt !== "number") return bytes;
  return new TextEncoder().encode(
    JSON.stringify({ ...lock, ageMs: Math.max(0, nowMs - refreshedAt) }),
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
