import { describe, expect, test } from "bun:test";
import { ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { signingKeyFromSeed, verifyKeyFromPublicKey } from "./ed25519.ts";
import { fromHex, toHex, utf8 } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";

function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (bytes === undefined) throw new Error(`bad hex in a test: ${text}`);
  return bytes;
}

// RFC 8032 §7.1, TEST 1 to TEST 3.
const RFC8032 = [
  {
    name: "TEST 1 (empty message)",
    seed: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    message: "",
    signature:
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155" +
      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    name: "TEST 2 (one byte)",
    seed: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    publicKey: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    message: "72",
    signature:
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da" +
      "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    name: "TEST 3 (two bytes)",
    seed: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    publicKey: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    message: "af82",
    signature:
      "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac" +
      "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
];

describe("RFC 8032 test vectors", () => {
  for (const vector of RFC8032) {
    test(`${vector.name}: seed gives the public key, the signature and verifies`, () => {
      const key = signingKeyFromSeed(hex(vector.seed));
      expect(toHex(key.publicKey)).toBe(vector.publicKey);
      const signature = key.sign(hex(vector.message));
      expect(toHex(signature)).toBe(vector.signature);
      const verifier = verifyKeyFromPublicKey(hex(vector.publicKey));
      expect(verifier.verify(hex(vector.message), hex(vector.signature))).toBe(true);
    });
  }
});

describe("signing", () => {
  test("is deterministic", () => {
    const key = signingKeyFromSeed(new Uint8Array(32).fill(7));
    expect(toHex(key.sign(utf8("hello")))).toBe(toHex(key.sign(utf8("hello"))));
    expect(key.sign(utf8("hello")).length).toBe(64);
  });

  test("does not keep a reference to the caller's seed", () => {
    const seed = new Uint8Array(32).fill(7);
    const key = signingKeyFromSeed(seed);
    const before = toHex(key.sign(utf8("m")));
    seed.fill(0);
    expect(toHex(key.sign(utf8("m")))).toBe(before);
  });

  test.each([0, 31, 33, 64])("refuses a %i-byte seed with a ProtocolError", (length) => {
    expect(() => signingKeyFromSeed(new Uint8Array(length))).toThrow(ProtocolError);
    expect(() => signingKeyFromSeed(new Uint8Array(length))).toThrow(
      `an Ed25519 seed is 32 bytes, got ${length}`,
    );
  });
});

describe("verifying", () => {
  const key = signingKeyFromSeed(new Uint8Array(32).fill(9));
  const verifier = verifyKeyFromPublicKey(key.publicKey);
  const message = utf8("a message");
  const signature = key.sign(message);

  test("accepts the signer's signature", () => {
    expect(verifier.verify(message, signature)).toBe(true);
  });

  test("refuses another message, another key, a changed signature", () => {
    expect(verifier.verify(utf8("a messagf"), signature)).toBe(false);
    const other = verifyKeyFromPublicKey(signingKeyFromSeed(new Uint8Array(32)).publicKey);
    expect(other.verify(message, signature)).toBe(false);
    const changed = signature.slice();
    changed[10] = (changed[10] ?? 0) ^ 1;
    expect(verifier.verify(message, changed)).toBe(false);
  });

  test.each([0, 63, 65, 128])("a %i-byte signature verifies false", (length) => {
    const wrong = new Uint8Array(length);
    wrong.set(signature.subarray(0, Math.min(length, 64)));
    expect(verifier.verify(message, wrong)).toBe(false);
  });

  test("refuses a signature whose S is not reduced (S + L): no malleability", () => {
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(signature[32 + i] ?? 0);
    let malleated = s + L;
    const forged = signature.slice();
    for (let i = 0; i < 32; i++) {
      forged[32 + i] = Number(malleated & 0xffn);
      malleated >>= 8n;
    }
    expect(verifier.verify(message, forged)).toBe(false);
  });

  test.each([0, 31, 33])("refuses a %i-byte public key with a ProtocolError", (length) => {
    expect(() => verifyKeyFromPublicKey(new Uint8Array(length))).toThrow(ProtocolError);
    expect(() => verifyKeyFromPublicKey(new Uint8Array(length))).toThrow(
      `an Ed25519 public key is 32 bytes, got ${length}`,
    );
  });
});

describe("small-order public keys", () => {
  // Under a small-order key, R = a torsion point and S = 0 verify for most messages with
  // OpenSSL, so such a key would let anyone sign as its id.
  const smallOrder = [
    ...ED25519_TORSION_SUBGROUP,
    // Non-canonical spellings: y = p (that is, 0) and y = p + 1 (that is, 1).
    `ed${"ff".repeat(30)}7f`,
    `ee${"ff".repeat(30)}7f`,
  ];
  const withSignBit = smallOrder.map((text) => {
    const bytes = hex(text);
    bytes[31] = (bytes[31] ?? 0) ^ 0x80;
    return toHex(bytes);
  });

  // The two order-8 points of each pair differ only in the sign bit: list each spelling once.
  test.each([...new Set([...smallOrder, ...withSignBit])])("refuses %s", (text) => {
    expect(() => verifyKeyFromPublicKey(hex(text))).toThrow(
      "not a usable Ed25519 public key: it has small order",
    );
  });
});
