import { describe, expect, test } from "bun:test";
import { release } from "./release.ts";

describe("release", () => {
  test("frees a buffer the bytes fill whole: nothing can read it after", () => {
    const bytes = new Uint8Array(1024).fill(7);
    release(bytes);
    expect(bytes.buffer.detached).toBe(true);
    expect(bytes.length).toBe(0);
    release(bytes); // twice is harmless
  });

  test("leaves a view of part of a buffer alone: the rest may still be in use", () => {
    const whole = new Uint8Array(1024).fill(7);
    const part = whole.subarray(0, 512);
    release(part);
    expect(whole.buffer.detached).toBe(false);
    expect(whole[1023]).toBe(7);
  });
});
