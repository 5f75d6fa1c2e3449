import { describe, expect, test } from "bun:test";
import { ago, plural, printable, table } from "./text.ts";

describe("plural", () => {
  test("one is singular; none and many are plural", () => {
    expect([plural(0, "file"), plural(1, "file"), plural(2, "file")]).toEqual([
      "0 files",
      "1 file",
      "2 files",
    ]);
  });
  test("an irregular plural, and thousands grouped", () => {
    expect([plural(1, "entry", "entries"), plural(1200, "entry", "entries")]).toEqual([
      "1 entry",
      "1,200 entries",
    ]);
  });
});

describe("table", () => {
  test("columns line up under their header, the last one unpadded", () => {
    expect(
      table(
        ["APP", "STATE", "DEVICE"],
        [
          ["notes", "running", "nas"],
          ["site", "pending", ""],
        ],
      ),
    ).toBe(["APP    STATE    DEVICE", "notes  running  nas", "site   pending"].join("\n"));
  });
});

describe("ago", () => {
  const now = Date.parse("2026-11-28T12:00:00Z");
  const at = (secondsBefore: number) => new Date(now - secondsBefore * 1000).toISOString();
  test("from seconds to days, rounded", () => {
    expect([1, 30, 600, 7200, 86400, 3 * 86400].map((s) => ago(at(s), now))).toEqual([
      "just now",
      "30 s ago",
      "10 min ago",
      "2 h ago",
      "24 h ago",
      "3 days ago",
    ]);
  });
});

describe("printable", () => {
  test("a line break or an escape sequence another device wrote stays on its line, shown", () => {
    expect(printable("b says x\n  ! run this\u001b[2K\r\u009b ok, é 好")).toBe(
      "b says x\\n  ! run this\\u001b[2K\\u000d\\u009b ok, é 好",
    );
  });
});
