import { describe, expect, test } from "bun:test";
import { MAX_KEY_LENGTH, stateKeyProblem, stateKeys } from "./state-key.ts";

const EMPTY_SEGMENT = "a key has no empty segments (no leading, trailing or double slash)";
const DOT_SEGMENT = 'a key has no "." or ".." segments';
const CHARACTERS = "a key segment uses only letters, digits and _ . : @ -";

describe("state keys", () => {
  test.each([
    "boot/config",
    "devices/laptop/doc",
    "devices/laptop/info",
    "users/alice/apps/photos/spec",
    "nodes/pi4/apps/photos.v2",
    "system/a_b:c@d-e.f",
    "a",
    "...",
    ".hidden",
    "A/Z/0/9",
    "a".repeat(MAX_KEY_LENGTH),
  ])("accepts %p", (key) => {
    expect(stateKeyProblem(key)).toBeUndefined();
  });

  test.each([
    ["", "a key must not be empty"],
    ["a".repeat(MAX_KEY_LENGTH + 1), `a key is at most ${MAX_KEY_LENGTH} characters`],
    ["/boot/config", EMPTY_SEGMENT],
    ["boot/config/", EMPTY_SEGMENT],
    ["boot//config", EMPTY_SEGMENT],
    ["/", EMPTY_SEGMENT],
    [".", DOT_SEGMENT],
    ["..", DOT_SEGMENT],
    ["devices/./doc", DOT_SEGMENT],
    ["devices/../boot/config", DOT_SEGMENT],
    ["devices/..", DOT_SEGMENT],
    ["devices/my laptop/doc", CHARACTERS],
    ["devices/laptop\n/doc", CHARACTERS],
    ["devices/laptop\u0000/doc", CHARACTERS],
    ["devices\\laptop", CHARACTERS],
    ["devices/café/doc", CHARACTERS],
    ["devices/*/doc", CHARACTERS],
    ["devices/?/doc", CHARACTERS],
    ["boot/config#1", CHARACTERS],
  ])("refuses %p: %s", (key, problem) => {
    expect(stateKeyProblem(key)).toBe(problem);
  });

  test("names the first problem from the left", () => {
    expect(stateKeyProblem("a b//c")).toBe(CHARACTERS);
    expect(stateKeyProblem("a//b c")).toBe(EMPTY_SEGMENT);
  });
});

describe("well-known keys", () => {
  test("are laid out like BuckyOS's system config", () => {
    expect(stateKeys.zoneDocument).toBe("boot/config");
    expect(stateKeys.deviceDocument("laptop")).toBe("devices/laptop/doc");
    expect(stateKeys.devicesPrefix).toBe("devices/");
  });

  test("are valid keys", () => {
    expect(stateKeyProblem(stateKeys.zoneDocument)).toBeUndefined();
    expect(stateKeyProblem(stateKeys.deviceDocument("my-laptop-2"))).toBeUndefined();
    expect(stateKeys.deviceDocument("laptop").startsWith(stateKeys.devicesPrefix)).toBe(true);
  });
});
