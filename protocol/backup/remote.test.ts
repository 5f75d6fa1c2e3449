import { describe, expect, test } from "bun:test";
import { MAX_DIRECTORY_NAMES } from "./formats.ts";
import { decodeNames, encodeNames } from "./remote.ts";

describe("a listing a via answers with", () => {
  test("is taken up to the most names a repository's directory holds, and refused past it", () => {
    const names = (count: number) => Array.from({ length: count }, (_, i) => i.toString(36));
    expect(decodeNames(encodeNames(names(MAX_DIRECTORY_NAMES))).length).toBe(MAX_DIRECTORY_NAMES);
    expect(() => decodeNames(encodeNames(names(MAX_DIRECTORY_NAMES + 1)))).toThrow(
      `more than ${MAX_DIRECTORY_NAMES} names`,
    );
  });
});
