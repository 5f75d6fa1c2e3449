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
 */

/** The least of an answer each `timeoutMs` must bring (16 KiB in the default 5 s: 3.2 KiB/s). */
export const MIN_PROGRESS_BYTES = 16 * 1024;
/** The longest an answer may take however it comes: 8 MiB at 14 KiB/s. */
export const MAX_ANSWER_MS = 10 * 60_000;

export class AnswerWatch {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly cap: ReturnType<typeof setTimeout>;
  private bytesInWindow = 0;

  /** `maxMs`: the longest the answer may take in all (MAX_ANSWER_MS, or `timeoutMs` if longer). */
  constructor(
    private readonly timeoutMs: number,
    maxMs = Math.max(timeoutMs, MAX_ANSWER_MS),
  ) {
    this.arm();
    this.cap = setTimeout(() => this.timedOut(), maxMs);
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

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.bytesInWindow >= MIN_PROGRESS_BYTES) {
        this.bytesInWindow = 0;
        this.arm();
        return;
      }
      this.timedOut();
    }, this.timeoutMs);
  }
}
