import { describe, expect, test } from "bun:test";
import { parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  test("a number and a unit, or several", () => {
    expect(parseDuration("90s", "--ttl")).toBe(90_000);
    expect(parseDuration("1h30m", "--ttl")).toBe(5_400_000);
    expect(parseDuration("7d", "--since")).toBe(7 * 86_400_000);
  });

  test("anything else is a usage error naming the flag", () => {
    for (const text of ["", "1", "h", "1x", "1h 30m", "-1h"])
      expect(() => parseDuration(text, "--ttl")).toThrow(
        `--ttl ${JSON.stringify(text)} is not a duration`,
      );
  });

  test("longer than a hundred years is refused, not made a time before any date", () => {
    expect(parseDuration("36500d", "--since")).toBe(36_500 * 86_400_000);
    expect(() => parseDuration("36501d", "--since")).toThrow(
      '--since "36501d" is longer than 36500 days',
    );
    expect(() => parseDuration("99999999999d", "--since")).toThrow("is longer than");
  });
});
