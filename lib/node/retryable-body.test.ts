import { describe, expect, test } from "bun:test";
import { RetryableBody } from "./retryable-body.ts";

const text = (chunks: readonly Uint8Array[]) =>
  chunks.map((chunk) => new TextDecoder().decode(chunk)).join("");

describe("a streamed body sent again", () => {
  test("a read left waiting by an attempt given up goes to the next: no byte lost or sent twice", async () => {
    const gate = Promise.withResolvers<void>();
    const asked = Promise.withResolvers<void>();
    const parts = ["one ", "two"];
    const source = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          asked.resolve();
          const part = parts.shift();
          if (part === undefined) return controller.close();
          if (part === "one ") await gate.promise;
          controller.enqueue(new TextEncoder().encode(part));
        },
      },
      { highWaterMark: 0 },
    );
    const body = new RetryableBody(source);
    // The first attempt asks for bytes, and is given up before any come.
    const first = body.attempt().getReader();
    void first.read().catch(() => {});
    await asked.promise;
    expect(body.sent).toBe(false);
    const second = new Response(body.attempt());
    gate.resolve();
    expect(await second.text()).toBe("one two");
    expect(body.sent).toBe(true);
  });

  test("once any of it went to an attempt, it says so", async () => {
    const body = new RetryableBody(new Response("abc").body as ReadableStream<Uint8Array>);
    const reader = body.attempt().getReader();
    const chunks: Uint8Array[] = [];
    const { value } = await reader.read();
    if (value) chunks.push(value);
    expect(text(chunks)).toBe("abc");
    expect(body.sent).toBe(true);
  });

  test("an empty body is empty on every attempt, and never counts as sent", async () => {
    const body = new RetryableBody(new Response("").body as ReadableStream<Uint8Array>);
    expect(await new Response(body.attempt()).text()).toBe("");
    expect(await new Response(body.attempt()).text()).toBe("");
    expect(body.sent).toBe(false);
  });
});
