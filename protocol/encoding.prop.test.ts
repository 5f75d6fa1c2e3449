import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fromBase32, fromBase64url, fromHex, toBase32, toBase64url, toHex } from "./encoding.ts";

const bytes = fc.uint8Array({ maxLength: 96 });

// Strings drawn mostly from each alphabet, plus the characters a sloppy encoder would emit,
// so the strict decoders see both canonical and near-canonical spellings.
function textOver(alphabet: string, extras: string): fc.Arbitrary<string> {
  return fc.string({
    unit: fc.oneof(
      { weight: 20, arbitrary: fc.constantFrom(...alphabet) },
      { weight: 1, arbitrary: fc.constantFrom(...extras) },
    ),
    maxLength: 64,
  });
}

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

describe("encodings round-trip arbitrary bytes", () => {
  test("base64url", () => {
    fc.assert(
      fc.property(bytes, (input) => {
        const text = toBase64url(input);
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(fromBase64url(text)).toEqual(input);
      }),
      { numRuns: 500 },
    );
  });

  test("base32, lowercase, ceil(8n/5) characters", () => {
    fc.assert(
      fc.property(bytes, (input) => {
        const text = toBase32(input);
        expect(text).toMatch(/^[a-z2-7]*$/);
        expect(text.length).toBe(Math.ceil((input.length * 8) / 5));
        expect(fromBase32(text)).toEqual(input);
      }),
      { numRuns: 500 },
    );
  });

  test("hex", () => {
    fc.assert(
      fc.property(bytes, (input) => {
        const text = toHex(input);
        expect(text).toMatch(/^[0-9a-f]*$/);
        expect(fromHex(text)).toEqual(input);
      }),
      { numRuns: 500 },
    );
  });
});

describe("strict decoders give each value one spelling", () => {
  test("base64url: decode(x) is undefined or encodes back to x", () => {
    fc.assert(
      fc.property(textOver(BASE64URL_ALPHABET, "=+/ \n."), (text) => {
        const decoded = fromBase64url(text);
        if (decoded !== undefined) expect(toBase64url(decoded)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  test("base32: decode(x) is undefined or encodes back to x", () => {
    fc.assert(
      fc.property(textOver(BASE32_ALPHABET, "=ABZ0189 \n"), (text) => {
        const decoded = fromBase32(text);
        if (decoded !== undefined) expect(toBase32(decoded)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  test("hex: decode(x) is undefined or encodes back to x", () => {
    fc.assert(
      fc.property(textOver("0123456789abcdef", "ABCDEFgx \n"), (text) => {
        const decoded = fromHex(text);
        if (decoded !== undefined) expect(toHex(decoded)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  test("base32 accepts exactly the canonical lengths", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constant("a"), maxLength: 80 }), (text) => {
        const canonical = [0, 2, 4, 5, 7].includes(text.length % 8);
        expect(fromBase32(text) !== undefined).toBe(canonical);
      }),
      { numRuns: 200 },
    );
  });
});
