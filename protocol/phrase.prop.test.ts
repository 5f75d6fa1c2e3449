import { describe, expect, test } from "bun:test";
import { wordlist } from "@scure/bip39/wordlists/english.js";
import fc from "fast-check";
import { toHex } from "./encoding.ts";
import { checkPhrase, phraseFromEntropy } from "./phrase.ts";

const entropy = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("recovery phrases", () => {
  test("any entropy survives phrase and check, however the phrase is typed", () => {
    const spacing = fc.constantFrom(" ", "  ", "\t", "\n", " \n ");
    fc.assert(
      fc.property(
        entropy,
        fc.array(fc.boolean(), { minLength: 24, maxLength: 24 }),
        fc.array(spacing, { minLength: 25, maxLength: 25 }),
        (bytes, upper, spaces) => {
          const words = phraseFromEntropy(bytes).split(" ");
          expect(words).toHaveLength(24);
          expect(checkPhrase(words.join(" "))).toEqual({ ok: true, entropy: bytes });
          const typed = words
            .map((word, i) => `${spaces[i]}${upper[i] ? word.toUpperCase() : word}`)
            .join("");
          expect(checkPhrase(`${typed}${spaces[24]}`)).toEqual({ ok: true, entropy: bytes });
        },
      ),
      { numRuns: 100 },
    );
  });

  test("changing one word never gives back the same entropy", () => {
    fc.assert(
      fc.property(entropy, fc.nat(23), fc.nat(2047), (bytes, index, replacement) => {
        const words = phraseFromEntropy(bytes).split(" ");
        const word = wordlist[replacement] ?? "";
        fc.pre(words[index] !== word);
        words[index] = word;
        const result = checkPhrase(words.join(" "));
        if (result.ok) expect(toHex(result.entropy)).not.toBe(toHex(bytes));
        else expect(result.reason).toContain("checksum does not match");
      }),
      { numRuns: 200 },
    );
  });
});
