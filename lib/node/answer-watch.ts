/**
 * How long a peer has for its answer: `timeoutMs` to begin it, then as long as it keeps
 * coming. A total time instead made a minimum speed of every link: an 8 MiB answer of app
 * data (protocol/replica.ts BLOB_ANSWER_BYTES) within the default 5 s needs 13 Mbit/s,
 * more than many homes send, so a standby behind a slow uplink never caught up, and a 4 MiB
 * sync page or a file's 4 MiB chunk the same. An answer "keeps coming" while each
 * `timeoutMs` brings at least MIN_PROGRESS_BYTES of it: a peer that stops, or trickles a few
 * bytes at a time, is given up on as before. However it comes, an answer ends within
 * MAX_ANSWER_MS: a member could otherwise hold a call (and the sync round waiting on it)
 * for as long as its largest answer takes at the least speed, hours.
 *
 * A request's own body must reach the peer before it can answer, and how much of it is
 * still on the way cannot be seen from here (the kernel's buffers hold megabytes of it).
 * So its head is given time for the body too, at MIN_UPLOAD_BYTES_PER_S.
 */

/** The least of an answer each `timeoutMs` must bring (16 KiB in the default 5 s: 3.2 KiB/s). */
export const MIN_PROGRESS_BYTES = 16 * 1024;
/** The longest an answer may take however it comes: 8 MiB at 14 KiB/s. */
export const MAX_ANSWER_MS = 10 * 60_000;
/** The least speed a request's body is given time for: 32 KiB/s (256 kbit/s). */
export const MIN_UPLOAD_BYTES_PER_S = 32 * 1024;

export class AnswerWatch {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly cap: ReturnType<typeof setTimeout>;
  private bytesInWindow = 0;

  /**
   * `sentBytes`: the request's body, which the head is given time for too. `maxMs`: the
   * longest the answer may take in all, that time aside (MAX_ANSWER_MS, or `timeoutMs` if
   * longer).
   */
  constructor(
    private readonly timeoutMs: number,
    options: { readonly sentBytes?: number; readonly maxMs?: number } = {},
  ) {
    const sendingMs = ((options.sentBytes ?? 0) / MIN_UPLOAD_BYTES_PER_S) * 1000;
    this.arm(timeoutMs + sendingMs);
    this.cap = setTimeout(
      () => this.timedOut(),
      (options.maxMs ?? Math.max(timeoutMs, MAX_ANSWER_MS)) + sendingMs,
    );
  }

  /** Aborted when the answer does not begin, or stops coming, in time. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The answer's head came: its body's first window starts now. */
  began(): void {
    this.bytesInWindow = 0;
    this.arm();
  }

  /** `bytes` more of the answer came. */
  moved(bytes: number): void {
    this.bytesInWindow += bytes;
  }

  /** The answer is whole (or given up on): nothing more to watch. */
  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.cap);
  }

  private timedOut(): void {
    this.stop();
    // As AbortSignal.timeout says it, so it reads as the peer not answering in time.
    this.controller.abort(new DOMException("The operation timed out.", "TimeoutError"));
  }

  private arm(windowMs = this.timeoutMs): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.bytesInWindow >= MIN_PROGRESS_BYTES) {
        this.bytesInWindow = 0;
        this.arm();
        return;
      }
      this.timedOut();
    }, windowMs);
  }
}
