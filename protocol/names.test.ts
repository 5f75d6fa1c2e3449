import { describe, expect, test } from "bun:test";
import {
  checkDeviceName,
  checkZoneName,
  isHostName,
  MAX_NAME_LENGTH,
  type NameCheck,
  suggestName,
} from "./names.ts";

const CHARACTERS = "use lowercase letters, digits and hyphens";
const SHAPE = "it must start with a letter and must not end with a hyphen";

describe("checking names", () => {
  test.each(["a", "home", "my-laptop", "pi4", "a-b-c", "x--y", "a".repeat(MAX_NAME_LENGTH)])(
    "accepts %p",
    (text) => {
      expect<NameCheck<string>>(checkZoneName(text)).toEqual({ ok: true, name: text });
      expect<NameCheck<string>>(checkDeviceName(text)).toEqual({ ok: true, name: text });
    },
  );

  test.each([
    ["", "it is empty"],
    ["a".repeat(64), "it is 64 characters long; the limit is 63"],
    ["a".repeat(300), "it is 300 characters long; the limit is 63"],
    ["Laptop", `it contains "L"; ${CHARACTERS}`],
    ["myLaptop", `it contains "L"; ${CHARACTERS}`],
    ["\u0007", `it contains U+0007; ${CHARACTERS}`],
    ["lap\ntop", `it contains U+000a; ${CHARACTERS}`],
    ["lap\ttop", `it contains U+0009; ${CHARACTERS}`],
    ["lap\u007ftop", `it contains U+007f; ${CHARACTERS}`],
    ["\u0000", `it contains U+0000; ${CHARACTERS}`],
    ["my laptop", `it contains " "; ${CHARACTERS}`],
    ["my_laptop", `it contains "_"; ${CHARACTERS}`],
    ["laptop.local", `it contains "."; ${CHARACTERS}`],
    ["café", `it contains U+00e9; ${CHARACTERS}`],
    ["box😀", `it contains U+1f600; ${CHARACTERS}`],
    ["lap\u200btop", `it contains U+200b; ${CHARACTERS}`],
    ["\u202epot", `it contains U+202e; ${CHARACTERS}`],
    ["1box", SHAPE],
    ["9", SHAPE],
    ["-box", SHAPE],
    ["-", SHAPE],
    ["box-", SHAPE],
  ])("refuses %p: %s", (text, reason) => {
    expect<NameCheck<string>>(checkZoneName(text)).toEqual({ ok: false, reason });
    expect<NameCheck<string>>(checkDeviceName(text)).toEqual({ ok: false, reason });
  });

  test("names the first offending character", () => {
    expect<NameCheck<string>>(checkZoneName("a\u0007B")).toEqual({
      ok: false,
      reason: `it contains U+0007; ${CHARACTERS}`,
    });
  });

  test("checks the length before the characters", () => {
    expect<NameCheck<string>>(checkZoneName("A".repeat(64))).toEqual({
      ok: false,
      reason: "it is 64 characters long; the limit is 63",
    });
  });
});

describe("suggesting a name from a host name", () => {
  test.each([
    ["My-Laptop.local", "my-laptop"],
    ["DESKTOP_01", "desktop-01"],
    ["Tom's MacBook Pro", "tom-s-macbook-pro"],
    ["raspberrypi", "raspberrypi"],
    ["--box--", "box"],
    ["laptop-", "laptop"],
    ["  spaces  ", "spaces"],
    ["9lives.example.com", "lives"],
    ["über", "ber"],
    ["a".repeat(70), "a".repeat(63)],
    // Cut at 63 characters, then the hyphen the cut left at the end is dropped.
    [`${"a".repeat(62)}-b`, "a".repeat(62)],
  ])("turns %p into %p", (label, name) => {
    expect(suggestName(label)).toBe(name);
    expect<NameCheck<string>>(checkDeviceName(name)).toEqual({ ok: true, name });
  });

  test.each([
    ["", "an empty label"],
    [".local", "a label with nothing before the first dot"],
    ["123", "digits only"],
    ["---", "hyphens only"],
    ["日本", "no usable character"],
  ])("gives nothing for %p (%s)", (label) => {
    expect(suggestName(label)).toBeUndefined();
  });
});

describe("isHostName", () => {
  test.each(["home.example.com", "gateway", "notes.home.lan", "192.168.1.20", "a".repeat(63)])(
    "%p is one",
    (name) => expect(isHostName(name)).toBe(true),
  );
  test.each([
    "",
    "Home.example.com",
    "home.example.com.",
    "-x.example.com",
    "a".repeat(64),
    `${"a.".repeat(126)}ab`,
    "x; the owner must run: bucky devices revoke nas",
    "fd00::20",
  ])("%p is not", (name) => expect(isHostName(name)).toBe(false));
});
