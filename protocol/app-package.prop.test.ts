/** A package decodes to exactly its files, sorted, and its bytes do not depend on their order. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import {
  decodePackage,
  encodePackage,
  type PackageFile,
  packagePathProblem,
} from "./app-package.ts";

const segment = fc
  .string({ unit: fc.constantFrom(..."abcXYZ019._- ~é✓"), minLength: 1, maxLength: 12 })
  .filter((text) => text !== "." && text !== "..");
const path = fc
  .array(segment, { minLength: 1, maxLength: 4 })
  .map((segments) => segments.join("/"));
const file = fc.record({
  path,
  executable: fc.boolean(),
  bytes: fc.uint8Array({ maxLength: 64 }),
});
/** Files a directory could hold: unique paths, none of them also a directory of another. */
const files = fc
  .uniqueArray(file, { selector: (f) => f.path, maxLength: 20 })
  .filter((list) => !list.some((a) => list.some((b) => b.path.startsWith(`${a.path}/`))));

const byPath = (a: PackageFile, b: PackageFile) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

describe("app packages", () => {
  test("round-trip any safe paths and bytes, sorted by path", () => {
    fc.assert(
      fc.property(files, (list) => {
        for (const { path: p } of list) expect(packagePathProblem(p)).toBeUndefined();
        expect(decodePackage(encodePackage(list))).toEqual([...list].sort(byPath));
      }),
      { numRuns: 300 },
    );
  });

  test("encode the same files in any order to the same bytes", () => {
    fc.assert(
      fc.property(
        files.chain((list) =>
          fc.tuple(
            fc.constant(list),
            fc.shuffledSubarray(list, { minLength: list.length, maxLength: list.length }),
          ),
        ),
        ([list, shuffled]) => {
          expect(encodePackage(shuffled)).toEqual(encodePackage(list));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("refuse any path given twice", () => {
    fc.assert(
      fc.property(files, fc.nat(), fc.boolean(), (list, index, executable) => {
        fc.pre(list.length > 0);
        const twice = list[index % list.length] as PackageFile;
        expect(() => encodePackage([...list, { ...twice, executable }])).toThrow(
          "a package has each path once",
        );
      }),
      { numRuns: 200 },
    );
  });
});
