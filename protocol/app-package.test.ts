import { describe, expect, test } from "bun:test";
import {
  decodePackage,
  encodePackage,
  MAX_PACKAGE_FILES,
  type PackageFile,
  packagePathProblem,
} from "./app-package.ts";
import { encodeCbor } from "./cbor.ts";
import { utf8 } from "./encoding.ts";
import { refusal } from "./test-refusal.ts";

const files: PackageFile[] = [
  { path: "server.ts", executable: false, bytes: utf8("Bun.serve({})") },
  { path: "bin/start", executable: true, bytes: utf8("#!/bin/sh\n") },
  { path: "bucky-app.json", executable: false, bytes: utf8("{}") },
  { path: "public/empty.txt", executable: false, bytes: new Uint8Array() },
];
const sorted = [files[1], files[2], files[3], files[0]] as PackageFile[];

describe("encodePackage", () => {
  test("writes CBOR {v: 1, files: [[path, mode, bytes], ...]} sorted by path", () => {
    expect(encodePackage(files)).toEqual(
      encodeCbor({
        v: 1,
        files: sorted.map((file) => [file.path, file.executable ? 0o755 : 0o644, file.bytes]),
      }),
    );
  });

  test("gives the same bytes whatever the order of the files", () => {
    expect(encodePackage([...files].reverse())).toEqual(encodePackage(files));
    expect(encodePackage(sorted)).toEqual(encodePackage(files));
  });

  test("sorts by code unit, so upper case comes before lower case", () => {
    const mixed = ["b", "B", "a/b", "a.txt", "a-z"].map((path) => ({
      path,
      executable: false,
      bytes: new Uint8Array(),
    }));
    expect(decodePackage(encodePackage(mixed)).map((file) => file.path)).toEqual([
      "B",
      "a-z",
      "a.txt",
      "a/b",
      "b",
    ]);
  });

  test("refuses a path given twice", () => {
    const twice = [...files, { path: "server.ts", executable: true, bytes: new Uint8Array() }];
    expect(refusal(() => encodePackage(twice))).toBe("a package has each path once");
  });
});

describe("decodePackage", () => {
  test("returns the files, sorted by path, with their modes and bytes", () => {
    expect(decodePackage(encodePackage(files))).toEqual(sorted);
  });

  test("accepts an empty package", () => {
    expect(decodePackage(encodePackage([]))).toEqual([]);
  });

  const entry = (path: unknown, mode: unknown = 0o644, bytes: unknown = new Uint8Array([1])) => [
    path,
    mode,
    bytes,
  ];
  const raw = (value: unknown) => () => decodePackage(encodeCbor(value));

  test("refuses a path twice", () => {
    expect(refusal(raw({ v: 1, files: [entry("a"), entry("a", 0o755)] }))).toBe(
      "package paths are not in order at a",
    );
  });

  test("refuses paths out of order: one set of files has one encoding", () => {
    expect(refusal(raw({ v: 1, files: [entry("b"), entry("a")] }))).toBe(
      "package paths are not in order at a",
    );
  });

  test("refuses a file that is also a directory", () => {
    expect(refusal(raw({ v: 1, files: [entry("a"), entry("a/b")] }))).toBe(
      "package has a/b under the file a",
    );
  });

  test.each([0o600, 0o777, 0o4755, 0o100644, 420.5, "0644", null])("refuses mode %p", (mode) => {
    expect(refusal(raw({ v: 1, files: [entry("a", mode)] }))).toBe(
      "package entry a has mode other than 0644 or 0755",
    );
  });

  test.each<[string, unknown, string]>([
    [
      "an absolute path",
      { v: 1, files: [entry("/etc/passwd")] },
      "package entry 0: a path is relative",
    ],
    [
      "a .. segment",
      { v: 1, files: [entry("../x")] },
      'package entry 0: "../x" has an empty, . or .. segment',
    ],
    [
      "a path as bytes",
      { v: 1, files: [entry(utf8("a"))] },
      "package entry 0 path must be a string",
    ],
    ["bytes as text", { v: 1, files: [entry("a", 0o644, "text")] }, "package entry a has no bytes"],
    [
      "an entry of two",
      { v: 1, files: [["a", 0o644]] },
      "package entry 0 is a [path, mode, bytes] triple",
    ],
    [
      "an entry as a map",
      { v: 1, files: [{ path: "a" }] },
      "package entry 0 is a [path, mode, bytes] triple",
    ],
    ["version 2", { v: 2, files: [] }, "app package version is not 1"],
    [
      "an unknown field",
      { v: 1, files: [], name: "notes" },
      'app package has an unknown field "name"',
    ],
    [
      "files as a map",
      { v: 1, files: {} },
      `an app package has at most ${MAX_PACKAGE_FILES} files`,
    ],
    ["an array", [1, []], "app package must be a map"],
  ])("refuses %s", (_what, value, message) => {
    expect(refusal(raw(value))).toBe(message);
  });

  test(`refuses more than ${MAX_PACKAGE_FILES} files`, () => {
    const many = Array.from({ length: MAX_PACKAGE_FILES + 1 }, (_, i) => entry(`f${i}`));
    expect(refusal(raw({ v: 1, files: many }))).toBe(
      `an app package has at most ${MAX_PACKAGE_FILES} files`,
    );
  });
});

describe("packagePathProblem", () => {
  test.each([
    "a",
    "server.ts",
    "public/index.html",
    "a/b/c/d/e",
    ".env",
    "..x",
    "x..",
    "with space/ünïcode ✓",
    "a".repeat(255),
  ])("accepts %j", (path) => {
    expect(packagePathProblem(path)).toBeUndefined();
  });

  test.each<[string, string]>([
    ["", "a path is 1 to 255 characters"],
    ["a".repeat(256), "a path is 1 to 255 characters"],
    ["/abs", "a path is relative"],
    ["/", "a path is relative"],
    ["..", '".." has an empty, . or .. segment'],
    ["a/../b", '"a/../b" has an empty, . or .. segment'],
    ["./a", '"./a" has an empty, . or .. segment'],
    ["a/.", '"a/." has an empty, . or .. segment'],
    ["a//b", '"a//b" has an empty, . or .. segment'],
    ["a/", '"a/" has an empty, . or .. segment'],
    ["a\nb", '"a\nb" has a control character'],
    ["a\0b", '"a\0b" has a control character'],
    ["tab\there", '"tab\there" has a control character'],
    ["del\x7f", '"del\x7f" has a control character'],
    ["esc\x1b[31m", '"esc\x1b[31m" has a control character'],
  ])("refuses %j", (path, problem) => {
    expect(packagePathProblem(path)).toBe(problem);
  });
});
