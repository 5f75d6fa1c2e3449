import { describe, expect, test } from "bun:test";
import { BuckyError } from "../lib/errors.ts";
import { msOf, silenceTiming } from "./liveness.ts";

describe("a time from the environment", () => {
  test("is its whole milliseconds, or nothing when unset or empty", () => {
    expect(msOf({ BUCKY_X_MS: "1500" }, "BUCKY_X_MS")).toBe(1500);
    expect(msOf({}, "BUCKY_X_MS")).toBeUndefined();
    expect(msOf({ BUCKY_X_MS: "" }, "BUCKY_X_MS")).toBeUndefined();
    expect(msOf({ BUCKY_X_MS: "0" }, "BUCKY_X_MS", 0)).toBe(0);
    expect(silenceTiming({ BUCKY_SILENCE_REPROBE_MS: "900" })).toEqual({ everyMs: 900 });
  });

  test("anything else is refused as a usage error, naming the variable: never a timer of NaN", () => {
    for (const text of ["1.5s", "abc", "0", "-5", "1.5", "1e400"]) {
      let error: unknown;
      try {
        msOf({ BUCKY_X_MS: text }, "BUCKY_X_MS");
      } catch (thrown) {
        error = thrown;
      }
      expect([text, error instanceof BuckyError && error.code]).toEqual([text, "E_USAGE"]);
      expect((error as Error).message).toContain("BUCKY_X_MS");
    }
  });
});
