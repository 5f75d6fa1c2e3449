/** Names, ids and times sort by code units in the order a collator gives them, in any locale. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { compareCodeUnits } from "./text-order.ts";

/** What bucky sorts this way: lowercase names, base32 and hex ids, RFC 3339 times. */
const identifier = fc.string({ unit: fc.constantFrom(..."abcxyz0129-"), maxLength: 12 });
const time = fc
  .date({
    min: new Date("2000-01-01T00:00:00Z"),
    max: new Date("2999-12-31T23:59:59Z"),
    noInvalidDate: true,
  })
  .map((date) => date.toISOString());

describe("compareCodeUnits", () => {
  test("orders names, ids and times as a collator does", () => {
    const collator = new Intl.Collator("en");
    for (const text of [identifier, time]) {
      fc.assert(
        fc.property(text, text, (a, b) => {
          expect(Math.sign(compareCodeUnits(a, b))).toBe(Math.sign(collator.compare(a, b)));
        }),
      );
    }
  });

  test("is a total order by code units, whatever the locale would say", () => {
    expect(["b", "B", "a", "_", "-", "é", "e"].sort(compareCodeUnits)).toEqual([
      "-",
      "B",
      "_",
      "a",
      "b",
      "e",
      "é",
    ]);
    expect(compareCodeUnits("same", "same")).toBe(0);
  });
});
