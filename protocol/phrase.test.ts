import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { toHex, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";
import {
  checkPhrase,
  deriveBackupRoot,
  deriveOwnerSeed,
  ENTROPY_BYTES,
  PHRASE_WORDS,
  phraseFromEntropy,
} from "./phrase.ts";

// BIP39 English test vectors (trezor/python-mnemonic vectors.json), 256-bit entropy.
const BIP39 = [
  { entropy: "00".repeat(32), phrase: `${"abandon ".repeat(23)}art` },
  {
    entropy: "7f".repeat(32),
    phrase: `${"legal winner thank year wave sausage worth useful ".repeat(2)}legal winner thank year wave sausage worth title`,
  },
  {
    entropy: "80".repeat(32),
    phrase: `${"letter advice cage absurd amount doctor acoustic avoid ".repeat(2)}letter advice cage absurd amount doctor acoustic bless`,
  },
  { entropy: "ff".repeat(32), phrase: `${"zoo ".repeat(23)}vote` },
];

function bytesOf(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** HKDF-SHA256 (RFC 5869) written out from HMAC, as an oracle for the derivations. */
function hkdf(ikm: Uint8Array, salt: string, info: string, length: number): string {
  const prk = createHmac("sha256", salt).update(ikm).digest();
  let block = Buffer.alloc(0);
  let out = Buffer.alloc(0);
  for (let i = 1; out.length < length; i++) {
    block = createHmac("sha256", prk)
      .update(Buffer.concat([block, utf8(info), Buffer.from([i])]))
      .digest();
    out = Buffer.concat([out, block]);
  }
  return out.subarray(0, length).toString("hex");
}

describe("phrases from entropy", () => {
  test.each(BIP39)("encodes $entropy as the BIP39 test vector", ({ entropy, phrase }) => {
    expect(phraseFromEntropy(bytesOf(entropy))).toBe(phrase);
    expect(checkPhrase(phrase)).toEqual({ ok: true, entropy: bytesOf(entropy) });
  });

  test("makes 24 words", () => {
    expect(phraseFromEntropy(new Uint8Array(ENTROPY_BYTES)).split(" ")).toHaveLength(PHRASE_WORDS);
  });

  test.each([0, 16, 31, 33])("refuses %i bytes of entropy", (length) => {
    expect(() => phraseFromEntropy(new Uint8Array(length))).toThrow(
      new ProtocolError("a recovery phrase encodes 32 bytes"),
    );
  });
});

describe("checking a phrase as typed", () => {
  const zeros = new Uint8Array(32);

  test("ignores case and extra spacing", () => {
    const typed = `  ABANDON abandon\tAbandon\n${"abandon  ".repeat(20)}  Art \n`;
    expect(checkPhrase(typed)).toEqual({ ok: true, entropy: zeros });
  });

  test.each([
    ["", 0],
    ["abandon", 1],
    [`${"abandon ".repeat(22)}art`, 23],
    [`${"abandon ".repeat(24)}art`, 25],
    // A valid 12-word BIP39 phrase is still not a bucky recovery phrase.
    [`${"abandon ".repeat(11)}about`, 12],
  ])("refuses a phrase of the wrong length (%#)", (text, count) => {
    expect(checkPhrase(text)).toEqual({
      ok: false,
      reason: `a recovery phrase has 24 words; this one has ${count}`,
      hint: "Type all 24 words, in order, separated by spaces.",
    });
  });

  test("names an unknown word and suggests the one it was likely meant to be", () => {
    expect(checkPhrase(`${"abandon ".repeat(22)}abandn art`)).toEqual({
      ok: false,
      reason: 'not in the BIP39 English word list: word 23 "abandn" (did you mean "abandon"?)',
      hint: "Check the spelling of those words against what you wrote down.",
    });
  });

  test("names every unknown word, suggesting only where the first four letters match", () => {
    const result = checkPhrase(`xyz ${"abandon ".repeat(21)}qqqqq artwrk`);
    expect(result).toEqual({
      ok: false,
      reason:
        'not in the BIP39 English word list: word 1 "xyz", word 23 "qqqqq", ' +
        'word 24 "artwrk" (did you mean "artwork"?)',
      hint: "Check the spelling of those words against what you wrote down.",
    });
  });

  test("refuses two swapped words by the checksum", () => {
    const words = (BIP39[1]?.phrase ?? "").split(" ");
    [words[0], words[1]] = [words[1] ?? "", words[0] ?? ""];
    expect(checkPhrase(words.join(" "))).toEqual({
      ok: false,
      reason: "the phrase's checksum does not match: a word is wrong or two are swapped",
      hint: "Compare each word, in order, with what you wrote down.",
    });
  });

  test("refuses a wrong last word by the checksum", () => {
    expect(checkPhrase(`${"abandon ".repeat(23)}abandon`)).toMatchObject({
      ok: false,
      reason: "the phrase's checksum does not match: a word is wrong or two are swapped",
    });
  });
});

describe("keys derived from the phrase's entropy", () => {
  const entropy = bytesOf("00".repeat(32));
  const other = bytesOf(`${"00".repeat(31)}01`);

  test("the owner seed is HKDF-SHA256(entropy, salt bucky, info 'bucky owner key v1')", () => {
    expect(toHex(deriveOwnerSeed(entropy))).toBe(hkdf(entropy, "bucky", "bucky owner key v1", 32));
    expect(toHex(deriveOwnerSeed(other))).toBe(hkdf(other, "bucky", "bucky owner key v1", 32));
  });

  test("the backup root is HKDF-SHA256(entropy, salt bucky, info 'bucky backup key v1')", () => {
    expect(toHex(deriveBackupRoot(entropy))).toBe(
      hkdf(entropy, "bucky", "bucky backup key v1", 32),
    );
  });

  test("are deterministic, 32 bytes, and differ by purpose and by entropy", () => {
    const owner = deriveOwnerSeed(entropy);
    expect(owner).toHaveLength(32);
    expect(toHex(deriveOwnerSeed(bytesOf("00".repeat(32))))).toBe(toHex(owner));
    expect(toHex(deriveBackupRoot(entropy))).not.toBe(toHex(owner));
    expect(toHex(deriveOwnerSeed(other))).not.toBe(toHex(owner));
  });

  test.each([0, 16, 31, 33])("refuse %i bytes of entropy", (length) => {
    const message = "phrase entropy is 32 bytes";
    expect(() => deriveOwnerSeed(new Uint8Array(length))).toThrow(new ProtocolError(message));
    expect(() => deriveBackupRoot(new Uint8Array(length))).toThrow(new ProtocolError(message));
  });
});
