import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { canonicalPath } from "./request-target.ts";

// Paths as an attacker writes them: segments of letters, dots, separators and encodings.
const piece = fc.constantFrom(
  "a",
  "api",
  "secret",
  "/",
  "/",
  ".",
  "..",
  "%2e",
  "%2E",
  "%2f",
  "%2F",
  "%5c",
  "\\",
  "%25",
  "%252e",
  "%61",
  "%41",
  "%7e",
  ";",
  "%3b",
  "%00",
  "%0a",
  "%C3%A9",
  "é",
  "%",
  "2",
  "e",
  "?",
  "#",
);
const requestPath = fc
  .array(piece, { maxLength: 12 })
  .map((pieces) => `/${pieces.join("")}`)
  // As the runtime hands it over: parsed as a URL, dot segments and backslashes resolved.
  .map((path) => new URL(`http://gateway.invalid${path}`).pathname);

/** What an app that decodes a path once and then resolves its dot segments makes of it. */
function asAnAppSeesIt(path: string): string {
  const decoded = path.replace(/%([0-9A-F]{2})/g, (_, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
  const segments: string[] = [];
  for (const segment of decoded.split(/[/\\]/).slice(1)) {
    if (segment === "..") segments.pop();
    else if (segment !== ".") segments.push(segment);
  }
  return `/${segments.join("/")}`;
}

describe("canonicalPath, for any path", () => {
  test("is canonical: a second pass changes nothing", () => {
    fc.assert(
      fc.property(requestPath, (path) => {
        const canonical = canonicalPath(path);
        if (canonical !== undefined) expect(canonicalPath(canonical)).toBe(canonical);
      }),
      { numRuns: 2000 },
    );
  });

  test("an app that decodes it once stays under the open path that was checked", () => {
    fc.assert(
      fc.property(requestPath, (path) => {
        const canonical = canonicalPath(path);
        if (canonical?.startsWith("/api/")) expect(asAnAppSeesIt(canonical)).toStartWith("/api/");
      }),
      { numRuns: 2000 },
    );
  });
});

describe("canonicalPath, for a path with nothing encoded", () => {
  const plain = fc
    .array(
      fc.constantFrom(
        "a",
        "Z",
        "0",
        "-",
        "_",
        "~",
        "!",
        "$",
        "&",
        "'",
        "(",
        "*",
        "+",
        ",",
        "=",
        ":",
        "@",
        "/",
        ".",
        "..",
      ),
      { maxLength: 12 },
    )
    .map((pieces) => new URL(`http://gateway.invalid/${pieces.join("")}`).pathname);

  test("is the path as parsed, dot segments resolved once more changing nothing", () => {
    fc.assert(
      fc.property(plain, (path) => {
        expect(canonicalPath(path)).toBe(new URL(`http://gateway.invalid${path}`).pathname);
      }),
      { numRuns: 2000 },
    );
  });
});
