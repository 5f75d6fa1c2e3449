import { describe, expect, test } from "bun:test";
import { ProtocolError } from "./errors.ts";
import { conflictCopyName, decodeHead, isConflictCopyName } from "./replica.ts";

describe("a conflict copy's name", () => {
  test("is what keepConflict names a copy, and nothing else", () => {
    const name = conflictCopyName(Date.UTC(2026, 10, 29, 9, 35, 13, 7), "laptop", 3);
    expect(name).toBe("2026-11-29T09-35-13-007Z-laptop-epoch3");
    expect(isConflictCopyName(name)).toBe(true);
    expect(isConflictCopyName(conflictCopyName(8.64e15, "nas-2", 0))).toBe(true);
    for (const text of [
      "",
      "../../etc",
      `${name}\n! the owner must run: bucky devices revoke nas`,
      "2026-11-29T09-35-13-007Z-Laptop-epoch3",
      "2026-11-29T09-35-13-007Z-laptop-epoch",
      `2026-11-29T09-35-13-007Z-${"a".repeat(64)}-epoch3`,
    ])
      expect(isConflictCopyName(text)).toBe(false);
  });
});

describe("a replica head", () => {
  const head = {
    ...{ app: "notes", epoch: 2, seq: 9, holder: "nas", root: "a".repeat(64) },
    ...{ content: "b".repeat(64), at: 1, files: 3, bytes: 40, addedBytes: 0, final: false },
  };

  test("is read when every field is of its kind", () => {
    expect(decodeHead(head, "notes")).toEqual(head);
  });

  test("whose content is not a digest is refused: a peer's value goes no further", () => {
    for (const content of [undefined, 7, { a: 1 }, "x".repeat(10_000), "B".repeat(64)])
      expect(() => decodeHead({ ...head, content }, "notes")).toThrow(ProtocolError);
  });
});
