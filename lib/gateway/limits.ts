/**
 * Per-app limits as token buckets: requests per second (over it: 429 with Retry-After)
 * and bytes per second (over it: the response is slowed down, never cut).
 */

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    /** Tokens added per second. */
    readonly rate: number,
    /** The most tokens it holds: how far a burst may go. */
    readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.last = now();
  }

  /** Takes `amount` if there are that many; otherwise says how long until there will be. */
  take(amount = 1): { ok: true } | { ok: false; waitMs: number } {
    this.refill();
    if (this.tokens >= amount) {
      this.tokens -= amount;
      return { ok: true };
    }
    return { ok: false, waitMs: Math.ceil(((amount - this.tokens) / this.rate) * 1000) };
  }

  /** How long until `amount` could be taken (0: now), taking nothing. */
  waitMs(amount = 1): number {
    this.refill();
    return this.tokens >= amount ? 0 : Math.ceil(((amount - this.tokens) / this.rate) * 1000);
  }

  /** Takes `amount` now, owing what it lacks: the wait until the debt is paid off. */
  takeOwing(amount: number): number {
    this.refill();
    this.tokens -= amount;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.rate) * 1000);
  }

  private refill(): void {
    const now = this.now();
    // A clock set back earns nothing meanwhile, rather than a debt as long as the step:
    // counted from the moment before, every take was refused for that long.
    const earnedMs = Math.max(0, now - this.last);
    this.tokens = Math.min(this.burst, this.tokens + (earnedMs / 1000) * this.rate);
    this.last = now;
  }
}

/**
 * A stream that passes bytes on no faster than `bucket` allows: each chunk is sent when
 * the bytes it carries are paid for, so a large download slows down instead of failing.
 */
export function throttle(bucket: TokenBucket): TransformStream<Uint8Array, Uint8Array> {
  const piece = Math.max(1024, Math.floor(bucket.burst));
  return new TransformStream({
    async transform(chunk, controller) {
      for (let offset = 0; offset < chunk.length; offset += piece) {
        const part = chunk.subarray(offset, offset + piece);
        const waitMs = bucket.takeOwing(part.length);
        if (waitMs > 0) await Bun.sleep(waitMs);
        controller.enqueue(part);
      }
    },
  });
}

/** Counts the bytes that pass through; `onEnd` is told once the last has, or it is cut (ends). */
export function counter(
  onBytes: (count: number) => void,
  onEnd?: () => void,
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      onBytes(chunk.length);
      controller.enqueue(chunk);
    },
    ...(onEnd ? ends(onEnd) : {}),
  });
}

/**
 * A transformer's hooks for the end of what passes through it, however it ends: read to
 * the end (flush), or cut (cancel: the source failed, the app's side aborted, or the
 * client went), which would otherwise leave what waits for the end waiting for good.
 */
export function ends(onEnd: () => void): { flush: () => void; cancel: () => void } {
  // Transformer's cancel, which Bun runs, is newer than TypeScript's DOM types.
  return { flush: onEnd, cancel: onEnd };
}
