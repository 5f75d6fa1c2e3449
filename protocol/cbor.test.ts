import { describe, expect, test } from "bun:test";
import { cborUint, decodeCbor, encodeCbor } from "./cbor.ts";
import { fromHex, toHex } from "./encoding.ts";
import { ProtocolError } from "./errors.ts";

function hex(text: string): Uint8Array {
  const bytes = fromHex(text);
  if (bytes === undefined) throw new Error(`bad hex in a test: ${text}`);
  return bytes;
}

describe("encodeCbor", () => {
  test("writes plain CBOR: maps with text keys in insertion order, untagged byte strings", () => {
    expect(toHex(encodeCbor({ b: 1, a: [true, null] }))).toBe("a2616201616182f5f6");
    expect(toHex(encodeCbor(new Uint8Array([1, 2, 3])))).toBe("43010203");
    expect(toHex(encodeCbor("é"))).toBe("62c3a9");
    expect(toHex(encodeCbor(-1))).toBe("20");
    expect(toHex(encodeCbor(2 ** 32 - 1))).toBe("1affffffff");
  });

  // Pinned because the wire depends on it: a changeset's hlc ms (about 2^40 today) must
  // travel as a CBOR unsigned integer, as any other encoder would write it.
  test("writes whole numbers from 2^32 up as uint64 through cborUint, and reads them as numbers", () => {
    expect(toHex(encodeCbor(cborUint(2 ** 32 - 1)))).toBe("1affffffff");
    expect(toHex(encodeCbor(cborUint(2 ** 40)))).toBe("1b0000010000000000");
    expect(decodeCbor(hex("1b0000010000000000"), 9, "item")).toBe(2 ** 40);
    // cbor-x alone would write a float64; cborUint is what prevents it.
    expect(toHex(encodeCbor(2 ** 40))).toBe("fb4270000000000000");
  });

  test("uses the shortest length header", () => {
    expect(toHex(encodeCbor(new Uint8Array(23))).slice(0, 2)).toBe("57");
    expect(toHex(encodeCbor(new Uint8Array(24))).slice(0, 4)).toBe("5818");
    expect(toHex(encodeCbor(new Uint8Array(256))).slice(0, 6)).toBe("590100");
  });

  test("returns plain bytes of its own, so slice() copies as the type promises", () => {
    const first = encodeCbor([1, 2, 3]);
    const second = encodeCbor([4, 5, 6]);
    expect(Object.getPrototypeOf(first)).toBe(Uint8Array.prototype);
    expect(first.byteOffset).toBe(0);
    expect(first.buffer.byteLength).toBe(first.length);
    const copy = first.slice();
    copy[0] = 0;
    expect(toHex(first)).toBe("83010203");
    expect(toHex(second)).toBe("83040506");
  });
});

describe("decodeCbor", () => {
  test("reads back what encodeCbor wrote", () => {
    const value = { v: 1, s: "text", b: new Uint8Array([9]), n: null, a: [1, [2]] };
    expect(decodeCbor(encodeCbor(value), 1024, "value")).toEqual(value);
  });

  test("refuses input over the limit before decoding it", () => {
    expect(() => decodeCbor(new Uint8Array(11), 10, "a thing")).toThrow(
      new ProtocolError("a thing is 11 bytes; the limit is 10"),
    );
    expect(decodeCbor(hex("00"), 1, "a thing")).toBe(0);
  });

  test.each([
    ["", "no bytes"],
    ["ff", "a lone break"],
    ["82", "a truncated array"],
    ["6261", "a truncated string"],
    ["0000", "two items"],
    ["5f", "an indefinite-length byte string"],
    ["1c", "a reserved additional-information value"],
  ])("refuses %p (%s) with a ProtocolError", (text) => {
    expect(() => decodeCbor(hex(text), 1024, "item")).toThrow(ProtocolError);
    expect(() => decodeCbor(hex(text), 1024, "item")).toThrow(/^item is not valid CBOR: /);
  });

  test("keeps working after refusing malformed input", () => {
    expect(() => decodeCbor(hex("82"), 1024, "item")).toThrow(ProtocolError);
    expect(decodeCbor(hex("820102"), 1024, "item")).toEqual([1, 2]);
  });

  test("does not let a __proto__ key reach an object's prototype", () => {
    // {"__proto__": {"v": 1}}
    const decoded = decodeCbor(hex("a1695f5f70726f746f5f5fa1617601"), 1024, "item") as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded.v).toBeUndefined();
  });
});
