/**
 * Imports flow one way: cmd/ → lib/ → protocol/. protocol/ is pure (no I/O, no clock, no
 * logging), lib/ never reads the environment. This test reads every import and fails on
 * a wrong edge, so the layering cannot erode one convenient import at a time.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const LAYERS = ["cmd", "lib", "protocol"] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import from the project, beside itself. */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  cmd: ["lib", "protocol"],
  lib: ["protocol"],
  protocol: [],
};

/** The built-in app catalog embeds the sample apps' files as text (nothing of theirs runs). */
const BUILTIN_APPS = "lib/catalog/builtin-apps.ts";

/** Modules protocol/ may use: computation only. */
const PURE_MODULES = new Set([
  "node:crypto",
  "cbor-x",
  // the same encoder, without the loader that searches for a native addon
  "cbor-x/index-no-eval",
  "@scure/bip39",
  "@scure/bip39/wordlists/english.js",
]);

interface Import {
  readonly file: string;
  readonly specifier: string;
}

function sourceFiles(layer: Layer): string[] {
  return readdirSync(join(ROOT, layer), { recursive: true, encoding: "utf8" })
    .filter((path) => path.endsWith(".ts") && !path.endsWith(".test.ts") && !path.endsWith(".d.ts"))
    .map((path) => join(ROOT, layer, path));
}

function importsOf(file: string): Import[] {
  const source = readFileSync(file, "utf8");
  const found = source.matchAll(
    /(?:^|\n)\s*(?:import|export)[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g,
  );
  return [...found].map((match) => ({
    file: relative(ROOT, file),
    specifier: (match[1] ?? match[2]) as string,
  }));
}

function layerOf(file: string, specifier: string): Layer | "outside" | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const target = relative(ROOT, resolve(dirname(join(ROOT, file)), specifier));
  const top = target.split("/")[0];
  return (LAYERS as readonly string[]).includes(top as string) ? (top as Layer) : "outside";
}

describe("architecture", () => {
  for (const layer of LAYERS) {
    test(`${layer}/ imports only ${[layer, ...ALLOWED[layer]].join(", ")}`, () => {
      const wrong = sourceFiles(layer)
        .flatMap(importsOf)
        .filter(({ file, specifier }) => {
          const target = layerOf(file, specifier);
          return (
            target !== undefined &&
            target !== layer &&
            !ALLOWED[layer].includes(target as Layer) &&
            specifier !== "../package.json" &&
            !(file === BUILTIN_APPS && specifier.startsWith("../../fixtures/apps/"))
          );
        });
      expect(wrong).toEqual([]);
    });
  }

  test("protocol/ uses no I/O, clock, randomness or logging", () => {
    const impure = sourceFiles("protocol")
      .flatMap(importsOf)
      .filter(({ specifier }) => !specifier.startsWith(".") && !PURE_MODULES.has(specifier));
    expect(impure).toEqual([]);
    const calls = sourceFiles("protocol").flatMap((file) =>
      [
        ...readFileSync(file, "utf8").matchAll(
          /\b(Date\.now|new Date\(\)|Math\.random|randomBytes|console\.\w+|process\.\w+|Bun\.\w+)/g,
        ),
      ].map((match) => `${relative(ROOT, file)}: ${match[1]}`),
    );
    expect(calls).toEqual([]);
  });

  test("lib/ and protocol/ never read the environment", () => {
    const readers = [...sourceFiles("lib"), ...sourceFiles("protocol")].filter((file) =>
      /process\.env/.test(readFileSync(file, "utf8")),
    );
    expect(readers.map((file) => relative(ROOT, file))).toEqual([]);
  });

  // The first localeCompare loads ICU's collator, which an idle daemon then holds (1.5-2
  // MB); names, ids, keys and times sort by code units (protocol/text-order.ts) instead.
  test("only text people wrote is sorted with a collator", () => {
    const collating = [
      ...sourceFiles("cmd"),
      ...sourceFiles("lib"),
      ...sourceFiles("protocol"),
    ].filter((file) => /\.localeCompare\(/.test(readFileSync(file, "utf8")));
    expect(collating.map((file) => relative(ROOT, file)).sort()).toEqual([
      // the files of an app's data an agent searches, and of a backup a person browses
      "lib/agent/data-files.ts",
      "lib/backup/snapshot-files.ts",
    ]);
  });

  test("only the entry point exits the process", () => {
    const exiters = [
      ...sourceFiles("cmd"),
      ...sourceFiles("lib"),
      ...sourceFiles("protocol"),
    ].filter((file) => /process\.exit\(/.test(readFileSync(file, "utf8")));
    expect(exiters.map((file) => relative(ROOT, file))).toEqual(["cmd/main.ts"]);
  });
});
