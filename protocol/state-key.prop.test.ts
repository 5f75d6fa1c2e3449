import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { stateKeyProblem } from "./state-key.ts";

// The rule as written, one segment at a time: what the whole-key fast path must agree with.
function validBySegments(key: string): boolean {
  return key
    .split("/")
    .every((segment) => segment !== "." && segment !== ".." && /^[A-Za-z0-9_.:@-]+$/.test(segment));
}

describe("state keys", () => {
  test("a key is valid exactly when each of its segments is", () => {
    const key = fc.string({
      unit: fc.oneof(
        { weight: 10, arbitrary: fc.constantFrom(..."ab9_:@-") },
        { weight: 4, arbitrary: fc.constantFrom("/", ".") },
        { weight: 1, arbitrary: fc.constantFrom(" ", "\n", "é", "\\", "*", "\u0000", "\ud83d") },
      ),
      minLength: 1,
      maxLength: 24,
    });
    fc.assert(
      fc.property(key, (key) => {
        expect(stateKeyProblem(key) === undefined).toBe(validBySegments(key));
      }),
      { numRuns: 5000 },
    );
  });
});
