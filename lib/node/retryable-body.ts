/**
 * A streamed request body that can be sent once more another way, as long as none of it
 * was handed to the first attempt: each attempt reads the same source through a stream of
 * its own, and a read an attempt given up left waiting goes to the next one, so no byte is
 * lost or sent twice. Nothing is buffered beyond the one read in flight.
 */
/** What is read of the source: one chunk at a time. */
interface Reader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

export class RetryableBody {
  private reader: Reader | undefined;
  private pending: ReturnType<Reader["read"]> | undefined;
  private attempts = 0;
  private handedOver = false;

  constructor(private readonly source: ReadableStream<Uint8Array>) {}

  /** Whether any of the body went to an attempt: then it cannot be sent again. */
  get sent(): boolean {
    return this.handedOver;
  }

  /** The body for one more attempt; the attempts before it are given up. */
  attempt(): ReadableStream<Uint8Array> {
    const attempt = ++this.attempts;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          this.reader ??= this.source.getReader();
          this.pending ??= this.reader.read();
          const result = await this.pending;
          // Given up meanwhile: what was read waits for the next attempt.
          if (attempt !== this.attempts) return;
          this.pending = undefined;
          if (result.done || !result.value) return controller.close();
          this.handedOver = true;
          controller.enqueue(result.value);
        },
        // An attempt given up before any of the body went out leaves it for the next.
        cancel: (reason) => {
          if (attempt === this.attempts && this.handedOver)
            return (this.reader ?? this.source).cancel(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }
}
