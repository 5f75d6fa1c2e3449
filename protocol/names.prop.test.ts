import { describe, expect, test } from "bun:test";
import { isIP } from "node:net";
import fc from "fast-check";
import {
  checkDeviceName,
  checkZoneName,
  isIPv6Literal,
  MAX_NAME_LENGTH,
  type NameCheck,
  suggestName,
} from "./names.ts";

// Labels as users and hosts write them: mostly name-like, with the odd stray character.
const label = fc.string({
  unit: fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom(..."abcxyzABCXYZ0189-") },
    { weight: 2, arbitrary: fc.constantFrom(..."._ '\n\u0007é😀") },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  ),
  maxLength: 80,
});

// Valid names built from the rule itself: a letter, then letters, digits and hyphens,
// ending in a letter or digit.
const validName = fc
  .tuple(
    fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz"),
    fc.string({ unit: fc.constantFrom(..."abz09-"), maxLength: 60 }),
    fc.constantFrom(..."az09"),
  )
  .map(([first, middle, last]) => (middle === "" ? first : `${first}${middle}${last}`));

describe("names", () => {
  test("every name built by the DNS label rule is accepted as itself", () => {
    fc.assert(
      fc.property(validName, (name) => {
        expect(name.length).toBeLessThanOrEqual(MAX_NAME_LENGTH);
        expect<NameCheck<string>>(checkZoneName(name)).toEqual({ ok: true, name });
        expect<NameCheck<string>>(checkDeviceName(name)).toEqual({ ok: true, name });
      }),
      { numRuns: 500 },
    );
  });

  test("a name is accepted as itself, or refused with a reason", () => {
    fc.assert(
      fc.property(label, (text) => {
        const result = checkZoneName(text);
        if (result.ok) {
          expect<string>(result.name).toBe(text);
          expect(text).toMatch(/^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/);
        } else {
          expect(result.reason).toMatch(/^it /);
        }
        expect<NameCheck<string>>(checkDeviceName(text)).toEqual(result);
      }),
      { numRuns: 1000 },
    );
  });

  test("suggestName gives a valid name or nothing", () => {
    fc.assert(
      fc.property(label, (text) => {
        const name = suggestName(text);
        if (name !== undefined)
          expect<NameCheck<string>>(checkDeviceName(name)).toEqual({ ok: true, name });
      }),
      { numRuns: 1000 },
    );
  });

  test("suggestName leaves a valid name as it is", () => {
    fc.assert(
      fc.property(validName, (name) => {
        expect(suggestName(name)).toBe(name);
      }),
      { numRuns: 300 },
    );
  });
});

describe("isIPv6Literal", () => {
  // Mostly hex digits and colons, as a listen address's brackets hold, with the odd other;
  // and groups of hex joined by colons, a `::` somewhere or not, most of them addresses.
  const hex = fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), maxLength: 5 });
  const candidate = fc.oneof(
    fc.string({
      unit: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(..."0123456789abcdefABCDEF") },
        { weight: 4, arbitrary: fc.constant(":") },
        { weight: 1, arbitrary: fc.constantFrom(..."g.%[]/ ") },
      ),
      maxLength: 45,
    }),
    fc
      .tuple(fc.array(hex, { maxLength: 9 }), fc.nat(9), fc.boolean())
      .map(([groups, at, elided]) =>
        elided
          ? `${groups.slice(0, at).join(":")}::${groups.slice(at).join(":")}`
          : groups.join(":"),
      ),
  );

  test("says what node:net's isIP says of IPv6 in hex and colons (no zone id, no IPv4 tail)", () => {
    fc.assert(
      fc.property(candidate, (text) => {
        const written = /^[0-9a-fA-F:]*$/.test(text);
        expect([text, isIPv6Literal(text)]).toEqual([text, written && isIP(text) === 6]);
      }),
      { numRuns: 20_000 },
    );
  });

  test("of the written forms", () => {
    const forms = ["::", "::1", "1::", "fe80::1", "2001:db8::8a2e:370:7334", "0:0:0:0:0:0:0:1"];
    const broken = ["", ":", ":::", "1::2::3", "12345::", ":1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9"];
    expect([...forms, ...broken].map(isIPv6Literal)).toEqual([
      ...forms.map(() => true),
      ...broken.map(() => false),
    ]);
  });
});
