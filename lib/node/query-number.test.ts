import { describe, expect, test } from "bun:test";
import { wholeNumberQuery } from "./query-number.ts";

const range = { min: 1, max: 1000, absent: 100 };

describe("wholeNumberQuery", () => {
  test("an absent parameter is its default; digits within the range are taken", () => {
    expect(wholeNumberQuery(undefined, "lines", range)).toBe(100);
    expect(["1", "250", "1000"].map((value) => wholeNumberQuery(value, "lines", range))).toEqual([
      1, 250, 1000,
    ]);
  });

  test("anything else is a usage error that names the parameter", () => {
    for (const value of [
      "",
      "abc",
      "-1",
      "0",
      "1001",
      "1.5",
      "1e3",
      " 5",
      "0x10",
      "9".repeat(17),
    ]) {
      let thrown: unknown;
      try {
        wholeNumberQuery(value, "lines", range);
      } catch (error) {
        thrown = error;
      }
      expect([value, (thrown as { code?: string } | undefined)?.code]).toEqual([value, "E_USAGE"]);
      expect((thrown as Error).message).toStartWith("lines is ");
    }
  });
});
