/**
 * How long a peer has for its answer: `timeoutMs` to begin it, then as long as it keeps
 * coming. A total time instead made a minimum speed of every link: an 8 MiB answer of app
 * data (protocol/replica.ts BLOB_ANSWER_BYTES) within the default 5 s needs 13 Mbit/s,
 * more than many homes send, so a standby behind a slow uplink never caught up, and a 4 MiB
 * sync page or a file's 4 MiB chunk the same. An answer "keeps coming" while each
 * `timeoutMs` brings at least MIN_PROGRESS_BYTES of it: a peer that stops, or trickles a few
 * bytes at a time, is given up on as before.
 */

/** The least of an answer each `timeoutMs` must bring (16 KiB in the default 5 s: 3.2 KiB/s). */
export const MIN_PROGRESS_BYTES = 16 * 1024;

export class AnswerWatch {
  private readonly controller = new AbortController();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private bytesInWindow = 0;

  constructor(private readonly timeoutMs: number) {
    this.arm();
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
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.bytesInWindow >= MIN_PROGRESS_BYTES) {
        this.bytesInWindow = 0;
        this.arm();
        return;
      }
      // As AbortSignal.timeout says it, so it reads as the peer not answering in time.
      this.controller.abort(new DOMException("The operation timed out.", "TimeoutError"));
    }, this.timeoutMs);
  }
}
