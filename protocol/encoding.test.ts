import { describe, expect, test } from "bun:test";
import {
  bytesEqual,
  fromBase32,
  fromBase64url,
  fromHex,
  fromUtf8,
  toBase32,
  toBase64url,
  toHex,
  utf8,
} from "./encoding.ts";

// RFC 4648 §10 test vectors; base32 lowercased and unpadded, base64 in the url alphabet.
const RFC4648 = [
  { text: "", base64url: "", base32: "" },
  { text: "f", base64url: "Zg", base32: "my" },
  { text: "fo", base64url: "Zm8", base32: "mzxq" },
  { text: "foo", base64url: "Zm9v", base32: "mzxw6" },
  { text: "foob", base64url: "Zm9vYg", base32: "mzxw6yq" },
  { text: "fooba", base64url: "Zm9vYmE", base32: "mzxw6ytb" },
  { text: "foobar", base64url: "Zm9vYmFy", base32: "mzxw6ytboi" },
];

describe("base64url", () => {
  test("encodes the RFC 4648 vectors without padding", () => {
    for (const vector of RFC4648) {
      expect(toBase64url(utf8(vector.text))).toBe(vector.base64url);
      expect(fromBase64url(vector.base64url)).toEqual(utf8(vector.text));
    }
  });

  test("uses - and _ where base64 uses + and /", () => {
    expect(toBase64url(new Uint8Array([0xfb, 0xff]))).toBe("-_8");
    expect(fromBase64url("-_8")).toEqual(new Uint8Array([0xfb, 0xff]));
  });

  test("encodes only the bytes of a subarray view", () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(toBase64url(whole.subarray(2, 4))).toBe(toBase64url(new Uint8Array([3, 4])));
  });

  test.each([
    ["Zg==", "padding"],
    ["Zg=", "partial padding"],
    ["Zh", "non-zero trailing bits"],
    ["Zm9", "non-zero trailing bits in a two-byte tail"],
    ["Z", "a length of 1 mod 4"],
    ["Zm9vY", "a length of 1 mod 4"],
    ["+_8", "the standard alphabet's +"],
    ["-/8", "the standard alphabet's /"],
    [" Zg", "leading whitespace"],
    ["Zg\n", "a trailing newline"],
    ["Z g", "inner whitespace"],
    ["Zé", "a non-ASCII character"],
  ])("refuses %p (%s)", (text) => {
    expect(fromBase64url(text)).toBeUndefined();
  });
});

describe("base32", () => {
  test("encodes the RFC 4648 vectors in lowercase without padding", () => {
    for (const vector of RFC4648) {
      expect(toBase32(utf8(vector.text))).toBe(vector.base32);
      expect(fromBase32(vector.base32)).toEqual(utf8(vector.text));
    }
  });

  test("encodes 32 bytes as 52 characters", () => {
    expect(toBase32(new Uint8Array(32))).toBe("a".repeat(52));
    expect(toBase32(new Uint8Array(32).fill(0xff))).toBe(`${"7".repeat(51)}q`);
  });

  test.each([
    ["MY", "uppercase"],
    ["mY", "mixed case"],
    ["my======", "padding"],
    ["my=", "partial padding"],
    ["mz", "non-zero trailing bits"],
    ["mzxr", "non-zero trailing bits in a two-byte tail"],
    ["m", "one character, which cannot end a byte"],
    ["mzx", "three characters, which cannot end a byte"],
    ["mzxw6y", "six characters, which cannot end a byte"],
    ["m0", "the digit 0, outside the alphabet"],
    ["m1", "the digit 1, outside the alphabet"],
    ["m8", "the digit 8, outside the alphabet"],
    ["m9", "the digit 9, outside the alphabet"],
    ["m y", "a space"],
    ["my\n", "a trailing newline"],
  ])("refuses %p (%s)", (text) => {
    expect(fromBase32(text)).toBeUndefined();
  });
});

describe("hex", () => {
  test("encodes lowercase, two digits a byte", () => {
    expect(toHex(new Uint8Array([0, 1, 0xab, 0xff]))).toBe("0001abff");
    expect(fromHex("0001abff")).toEqual(new Uint8Array([0, 1, 0xab, 0xff]));
    expect(fromHex("")).toEqual(new Uint8Array());
  });

  test("encodes only the bytes of a subarray view", () => {
    expect(toHex(new Uint8Array([1, 2, 3, 4]).subarray(1, 3))).toBe("0203");
  });

  test.each([
    ["AB", "uppercase"],
    ["aB", "mixed case"],
    ["abc", "an odd length"],
    ["gg", "non-hex digits"],
    [" ab", "whitespace"],
    ["0x00", "a 0x prefix"],
  ])("refuses %p (%s)", (text) => {
    expect(fromHex(text)).toBeUndefined();
  });
});

describe("bytesEqual", () => {
  test("compares contents, not identity or offset", () => {
    const whole = new Uint8Array([9, 1, 2, 9]);
    expect(bytesEqual(whole.subarray(1, 3), new Uint8Array([1, 2]))).toBe(true);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
    expect(bytesEqual(new Uint8Array(), new Uint8Array())).toBe(true);
  });

  test("compares long arrays (the native path) the same way", () => {
    const long = new Uint8Array(1000).fill(7);
    const other = new Uint8Array(long);
    expect(bytesEqual(long, other)).toBe(true);
    other[999] = 8;
    expect(bytesEqual(long, other)).toBe(false);
    expect(bytesEqual(long.subarray(1), other.subarray(0, 999))).toBe(true);
  });
});

describe("utf8", () => {
  test("round-trips text outside ASCII", () => {
    const text = "zone é ✓ 😀";
    expect(fromUtf8(utf8(text))).toBe(text);
    expect(utf8("é")).toEqual(new Uint8Array([0xc3, 0xa9]));
  });

  test.each([
    [[0xff], "a byte that never occurs in UTF-8"],
    [[0xc3], "a truncated sequence"],
    [[0xc0, 0x80], "an overlong encoding"],
    [[0xed, 0xa0, 0x80], "an encoded surrogate"],
  ])("fromUtf8 refuses %p (%s)", (bytes) => {
    expect(fromUtf8(new Uint8Array(bytes))).toBeUndefined();
  });
});
