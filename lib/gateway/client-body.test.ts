import { describe, expect, test } from "bun:test";
import { clientBody } from "./client-body.ts";

describe("a client's streamed body", () => {
  test("awaits the client only while the app asked for a piece the client has not sent", async () => {
    let send: ((piece: Uint8Array) => void) | undefined;
    const source = new ReadableStream<Uint8Array>({
      pull: (controller) =>
        new Promise<void>((resolve) => {
          send = (piece) => {
            controller.enqueue(piece);
            resolve();
          };
        }),
    });
    let bytes = 0;
    let ended = false;
    const body = clientBody(
      source,
      (n) => {
        bytes += n;
      },
      () => {
        ended = true;
      },
    );
    // Not asked yet: nothing is read ahead, so a stall now is the app's.
    await Bun.sleep(0);
    expect(body.awaitingClient()).toBe(false);
    const reader = body.stream.getReader();
    const first = reader.read();
    await Bun.sleep(0);
    expect(body.awaitingClient()).toBe(true);
    send?.(new Uint8Array(10));
    expect((await first).value?.length).toBe(10);
    expect([body.awaitingClient(), bytes, ended]).toEqual([false, 10, false]);
    await reader.cancel();
  });

  test("says its end once the last piece has gone", async () => {
    let ended = false;
    const body = clientBody(
      new Blob([new Uint8Array(5)]).stream(),
      () => {},
      () => {
        ended = true;
      },
    );
    expect((await new Response(body.stream).bytes()).length).toBe(5);
    expect([ended, body.awaitingClient()]).toEqual([true, false]);
  });
});
