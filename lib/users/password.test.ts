import { describe, expect, test } from "bun:test";
import { toBase64url } from "../../protocol/encoding.ts";
import { HashGate, newPassword, passwordKey, passwordProblem } from "./password.ts";

/** A small cost: the same derivation, quickly. */
const CHEAP = { memoryKiB: 1024, passes: 1, parallelism: 1 };
const gate = new HashGate();

describe("passwords", () => {
  test("the same password and salt give the same key; another password another", async () => {
    const { record, key } = await newPassword("correct horse", gate, CHEAP);
    expect(record).toMatchObject(CHEAP);
    expect(record.publicKey).toBe(toBase64url(key.publicKey));
    const again = await passwordKey("correct horse", record.salt, CHEAP, gate);
    expect(toBase64url(again.publicKey)).toBe(record.publicKey);
    const wrong = await passwordKey("correct horsf", record.salt, CHEAP, gate);
    expect(toBase64url(wrong.publicKey)).not.toBe(record.publicKey);
  });

  test("a salt of its own: the same password twice makes two keys", async () => {
    const [a, b] = await Promise.all([
      newPassword("same one!", gate, CHEAP),
      newPassword("same one!", gate, CHEAP),
    ]);
    expect(a.record.salt).not.toBe(b.record.salt);
    expect(a.record.publicKey).not.toBe(b.record.publicKey);
  });

  test("past two at once, a derivation is refused, not queued", async () => {
    const slow = { memoryKiB: 8192, passes: 3, parallelism: 1 };
    const results = await Promise.allSettled(
      [1, 2, 3].map((n) => newPassword(`password ${n}`, gate, slow)),
    );
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected"]);
    expect(String((results[2] as PromiseRejectedResult).reason.message)).toContain("busy");
  });

  test("a new password needs 8 characters, at most 256, and not the name", () => {
    expect(passwordProblem("short", "ann")).toContain("at least 8");
    expect(passwordProblem("x".repeat(257), "ann")).toContain("at most 256");
    expect(passwordProblem("Annabelle", "annabelle")).toContain("not your name");
    expect(passwordProblem("correct horse", "ann")).toBeUndefined();
  });
});
