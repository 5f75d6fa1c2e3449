/**
 * A client's streamed request body as the app takes it, piece by piece, knowing which side
 * the wait is on. Passed through a stream that read ahead, a body that stopped coming
 * (a client gone quiet mid-upload) and an app that stopped taking it looked alike: nothing
 * moved, the app's time ran out, and the client was told the app did not answer in time
 * (504), the app blamed for the client's stall. Read only when the app asks for the next
 * piece (no read-ahead), a wait on the client is one where the app has asked and the client
 * has not sent: that is the client's (408), any other the app's.
 */

export interface ClientBody {
  /** The body the app reads. */
  readonly stream: ReadableStream<Uint8Array>;
  /** Whether the app asked for the next piece and the client has not sent it yet. */
  awaitingClient(): boolean;
}

/** Why a request was given up on: the client's body stopped coming while the app waited for it. */
export class ClientBodyStalled extends Error {
  override readonly name = "ClientBodyStalled";
  constructor(readonly afterMs: number) {
    super(`the client's request body stopped coming for ${afterMs / 1000} s`);
  }
}

/**
 * `source` for the app to read: `onBytes` for each piece as the app takes it (it may throw
 * to fail the body), `onEnd` once the last has gone.
 */
export function clientBody(
  source: ReadableStream<Uint8Array>,
  onBytes: (count: number) => void,
  onEnd: () => void,
): ClientBody {
  const reader = source.getReader();
  let awaiting = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        awaiting = true;
        let piece: Awaited<ReturnType<typeof reader.read>>;
        try {
          piece = await reader.read();
        } finally {
          awaiting = false;
        }
        if (piece.done) {
          onEnd();
          controller.close();
          return;
        }
        onBytes(piece.value.length);
        controller.enqueue(piece.value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    // Nothing read before the app asks: a piece waiting here would hide whose wait it is.
    { highWaterMark: 0 },
  );
  return { stream, awaitingClient: () => awaiting };
}
