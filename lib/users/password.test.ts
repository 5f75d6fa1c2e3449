import { describe, expect, test } from "bun:test";
import { toBase64url } from "../../protocol/encoding.ts";
import { newPassword, passwordKey, passwordProblem } from "./password.ts";

/** A small cost: the same derivation, quickly. */
const CHEAP = { memoryKiB: 1024, passes: 1, parallelism: 1 };

describe("passwords", () => {
  test("the same password and salt give the same key; another password another", async () => {
    const { record, key } = await newPassword("correct horse", CHEAP);
    expect(record).toMatchObject(CHEAP);
    expect(record.publicKey).toBe(toBase64url(key.publicKey));
    const again = await passwordKey("correct horse", record.salt, CHEAP);
    expect(toBase64url(again.publicKey)).toBe(record.publicKey);
    const wrong = await passwordKey("correct horsf", record.salt, CHEAP);
    expect(toBase64url(wrong.publicKey)).not.toBe(record.publicKey);
  });

  test("a salt of its own: the same password twice makes two keys", async () => {
    const [a, b] = await Promise.all([
      newPassword("same one!", CHEAP),
      newPassword("same one!", CHEAP),
    ]);
    expect(a.record.salt).not.toBe(b.record.salt);
    expect(a.record.publicKey).not.toBe(b.record.publicKey);
  });

  test("a new password needs 8 characters, at most 256, and not the name", () => {
    expect(passwordProblem("short", "ann")).toContain("at least 8");
    expect(passwordProblem("x".repeat(257), "ann")).toContain("at most 256");
    expect(passwordProblem("Annabelle", "annabelle")).toContain("not your name");
    expect(passwordProblem("correct horse", "ann")).toBeUndefined();
  });
});
