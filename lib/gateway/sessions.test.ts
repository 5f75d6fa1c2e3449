import { describe, expect, test } from "bun:test";
import { isSameOriginPath } from "./sessions.ts";

describe("isSameOriginPath", () => {
  test("a path on this gateway, with its query and fragment", () => {
    for (const next of ["/", "/apps/notes/", "/_bucky/panel/", "/a?b=1&c=%2F#top", "/.//x"])
      expect([next, isSameOriginPath(next)]).toEqual([next, true]);
  });

  test("never another site, nor what a browser or a header would read otherwise", () => {
    for (const next of [
      "",
      "//evil.example",
      "/\\evil.example",
      "\\/evil.example",
      "/a\\b",
      "/\t/evil.example",
      "/\n/evil.example",
      "/a\r\nSet-Cookie: x=1",
      "/ evil",
      "/é",
      "/€",
      "http://evil.example/",
      "evil.example",
      `/${"a".repeat(2048)}`,
    ])
      expect([next, isSameOriginPath(next)]).toEqual([next, false]);
  });
});
