/**
 * Every route of the local API reads its body within its own bound, whatever
 * Content-Length says and with none (chunked): past it the request is refused with
 * E_TOO_LARGE (413), no more of the body is read, and the daemon carries on. A chunked
 * body past Bun's own limit used to reach a route as an unexpected error, which
 * stopped the daemon as a bug.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { buckyJson, cleanUp, newHomePath, startDaemon } from "./harness.ts";

afterAll(cleanUp);

const MiB = 1024 * 1024;

describe("the local API's request bodies", () => {
  test("a JSON body past 1 MiB is refused, declared or chunked, and a huge chunked one is not read on", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    const socket = join(home, "daemon.sock");
    const put = async (body: string | ReadableStream<Uint8Array>) => {
      const response = await fetch("http://localhost/v1/state/notes/big", {
        method: "PUT",
        unix: socket,
        headers: { "content-type": "application/json" },
        body,
      });
      return { status: response.status, body: await response.json() };
    };
    const refused = {
      status: 413,
      body: {
        error: {
          code: "E_TOO_LARGE",
          message: `a JSON request is over ${MiB} bytes, the most this takes`,
          hint: "Nothing was kept. Send less: the bound is the same whatever the request says of its size.",
        },
      },
    };
    const json = JSON.stringify({ value: "x".repeat(2 * MiB) });
    // With its Content-Length, then chunked (no length said).
    const declared = await put(json);
    const unsaid = await put(chunked(new TextEncoder().encode(json), 4));
    // 512 MiB, chunked: refused after the first, the rest never sent (the sender is held back).
    let sentBytes = 0;
    const piece = new Uint8Array(MiB).fill(0x20);
    const huge = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sentBytes >= 512 * MiB) return controller.close();
        controller.enqueue(piece);
        sentBytes += piece.length;
      },
    });
    const hugeAnswer = await put(huge).catch((error) => String(error));
    // Within the bound, the same route takes it: the daemon carries on.
    const small = await put(JSON.stringify({ value: "small" })).catch((error) => ({
      status: String(error),
    }));
    expect(
      { declared, unsaid, hugeAnswer, sentUnder64MiB: sentBytes < 64 * MiB, small: small.status },
      daemon.log().split("\n").slice(-5).join("\n"),
    ).toEqual({
      declared: refused,
      unsaid: refused,
      hugeAnswer: refused,
      sentUnder64MiB: true,
      small: 200,
    });
  }, 60_000);
});

/** `bytes` as a stream with no length, in `times` pieces. */
function chunked(bytes: Uint8Array, times: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === times) return controller.close();
      const size = Math.ceil(bytes.length / times);
      controller.enqueue(bytes.subarray(sent * size, ++sent * size));
    },
  });
}

describe("the local API's state listing", () => {
  test("gives the first `limit` entries in key order, and refuses a limit that is not a whole number in range", async () => {
    const home = newHomePath();
    await buckyJson(["init", "--home", home]);
    const daemon = await startDaemon(home);
    for (const key of ["notes/c", "notes/a", "notes/b"])
      await buckyJson(["state", "set", key, '"x"', "--home", home]);
    const list = async (query: string) => {
      const response = await fetch(`http://localhost/v1/state?${query}`, {
        unix: join(home, "daemon.sock"),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const keys = (answer: { body: Record<string, unknown> }) =>
      (answer.body.entries as { key: string }[]).map((entry) => entry.key);
    expect(keys(await list("prefix=notes/&limit=2"))).toEqual(["notes/a", "notes/b"]);
    expect(keys(await list("prefix=notes/"))).toEqual(["notes/a", "notes/b", "notes/c"]);
    for (const limit of ["0", "abc", "-1", "1e3", "100001", "", "9".repeat(40)]) {
      const refused = await list(`prefix=notes/&limit=${encodeURIComponent(limit)}`);
      expect([limit, refused.status, (refused.body.error as { code: string }).code]).toEqual([
        limit,
        400,
        "E_USAGE",
      ]);
    }
    expect(await daemon.stop()).toBe(0);
  });
});
