import { describe, expect, test } from "bun:test";
import { TokenBucket } from "./limits.ts";

describe("TokenBucket", () => {
  test("allows a burst, then one per 1/rate seconds, and says how long to wait", () => {
    let now = 0;
    const bucket = new TokenBucket(5, 5, () => now);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take()).toEqual({ ok: false, waitMs: 200 });
    now = 200;
    expect(bucket.take()).toEqual({ ok: true });
    now = 10_000;
    // Refills to the burst, no more.
    for (let i = 0; i < 5; i++) expect(bucket.take()).toEqual({ ok: true });
    expect(bucket.take().ok).toBe(false);
  });

  test("takeOwing runs into debt and says how long until it is paid", () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 1000, () => now);
    expect(bucket.takeOwing(1000)).toBe(0);
    expect(bucket.takeOwing(500)).toBe(500);
    now = 500;
    expect(bucket.takeOwing(0)).toBe(0);
  });
});
