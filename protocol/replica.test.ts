import { describe, expect, test } from "bun:test";
import { conflictCopyName, isConflictCopyName } from "./replica.ts";

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
