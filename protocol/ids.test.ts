import { describe, expect, test } from "bun:test";
import { fromHex, toBase32 } from "./encoding.ts";
import {
  deviceIdFromPublicKey,
  parseDeviceId,
  parseZoneId,
  publicKeyOfId,
  zoneIdFromPublicKey,
} from "./ids.ts";

// The public key of RFC 8032 TEST 1.
const PUBLIC_KEY = fromHex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
const KEY_BASE32 = "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena";
if (PUBLIC_KEY === undefined) throw new Error("bad hex in a test");

describe("ids from public keys", () => {
  test("a zone id is z + lowercase base32 of the key", () => {
    expect(toBase32(PUBLIC_KEY)).toBe(KEY_BASE32);
    expect<string>(zoneIdFromPublicKey(PUBLIC_KEY)).toBe(`z${KEY_BASE32}`);
  });

  test("a device id is d + lowercase base32 of the key", () => {
    expect<string>(deviceIdFromPublicKey(PUBLIC_KEY)).toBe(`d${KEY_BASE32}`);
  });

  test("an id is a 53-character DNS label", () => {
    const id = zoneIdFromPublicKey(PUBLIC_KEY);
    expect(id).toHaveLength(53);
    expect(id).toMatch(/^[a-z][a-z2-7]{52}$/);
  });
});

describe("parsing ids", () => {
  test("gives back the key an id names", () => {
    expect(publicKeyOfId(`z${KEY_BASE32}`, "zone")).toEqual(PUBLIC_KEY);
    expect(publicKeyOfId(`d${KEY_BASE32}`, "device")).toEqual(PUBLIC_KEY);
    expect(parseZoneId(`z${KEY_BASE32}`)).toBe(zoneIdFromPublicKey(PUBLIC_KEY));
    expect(parseDeviceId(`d${KEY_BASE32}`)).toBe(deviceIdFromPublicKey(PUBLIC_KEY));
  });

  test("does not take a device id for a zone id, or the reverse", () => {
    expect(parseZoneId(`d${KEY_BASE32}`)).toBeUndefined();
    expect(parseDeviceId(`z${KEY_BASE32}`)).toBeUndefined();
    expect(publicKeyOfId(`d${KEY_BASE32}`, "zone")).toBeUndefined();
    expect(publicKeyOfId(`z${KEY_BASE32}`, "device")).toBeUndefined();
  });

  test.each([
    ["", "empty"],
    ["z", "a prefix alone"],
    [KEY_BASE32, "no prefix"],
    [`Z${KEY_BASE32}`, "an uppercase prefix"],
    [`z${KEY_BASE32.toUpperCase()}`, "uppercase base32"],
    [`z${KEY_BASE32.slice(0, -1)}`, "a character short (not a whole number of bytes)"],
    [`z${KEY_BASE32.slice(0, -4)}`, "30 bytes"],
    [`z${KEY_BASE32}aa`, "a length no key encodes to"],
    [`z${KEY_BASE32.slice(0, -1)}b`, "non-zero trailing bits"],
    [`z${KEY_BASE32.slice(0, -1)}1`, "a character outside the alphabet"],
    [`z${KEY_BASE32}=`, "padding"],
    [` z${KEY_BASE32}`, "leading whitespace"],
    [`z${KEY_BASE32}\n`, "a trailing newline"],
  ])("refuses %p as a zone id (%s)", (text) => {
    expect(parseZoneId(text)).toBeUndefined();
    expect(publicKeyOfId(text, "zone")).toBeUndefined();
  });

  test("refuses a well-formed id of 31 or 33 bytes", () => {
    expect(parseZoneId(`z${toBase32(new Uint8Array(31))}`)).toBeUndefined();
    expect(parseZoneId(`z${toBase32(new Uint8Array(33))}`)).toBeUndefined();
    expect<string | undefined>(parseZoneId(`z${toBase32(new Uint8Array(32))}`)).toBe(
      `z${"a".repeat(52)}`,
    );
  });
});
