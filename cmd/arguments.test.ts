import { describe, expect, test } from "bun:test";
import { type ArgsDef, parseArgs } from "citty";
import fc from "fast-check";
import { parseArguments } from "./arguments.ts";

const defs = {
  id: { type: "positional", required: true, description: "" },
  extra: { type: "positional", required: false, default: "none", description: "" },
  output: { type: "string", alias: "o", description: "" },
  json: { type: "boolean", description: "" },
  "log-level": { type: "string", description: "" },
  dryRun: { type: "boolean", description: "" },
  keep: { type: "boolean", default: true, description: "" },
  limit: { type: "string", default: "10", description: "" },
} satisfies ArgsDef;

/** What a command reads of its arguments, by each spelling it may use. */
function seen(args: Record<string, unknown>) {
  const keys = [
    "_",
    "id",
    "extra",
    "output",
    "o",
    "json",
    "log-level",
    "logLevel",
    "dryRun",
    "dry-run",
    "keep",
    "limit",
  ];
  return Object.fromEntries(keys.map((key) => [key, args[key]]));
}

describe("parseArguments reads what citty's parser reads", () => {
  for (const tokens of [
    ["x"],
    ["x", "y", "--json"],
    ["--json", "x", "--output", "out.txt"],
    ["x", "-o", "out.txt"],
    ["x", "--output=a=b"],
    ["x", "--log-level", "debug"],
    ["x", "--dry-run"],
    ["x", "--dryRun"],
    ["x", "--no-keep"],
    ["x", "--keep=false", "--json=true"],
    ["x", "--limit", "3"],
    ["--", "-abc", "--json"],
    ["x", "--json", "--", "--y"],
    ["x", "-"],
  ]) {
    test(tokens.join(" "), () => {
      expect(seen(parseArguments(defs, tokens))).toEqual(seen(parseArgs(tokens, defs)));
    });
  }

  test("of a flag and its negation, the last wins", () => {
    expect(parseArguments(defs, ["x", "--no-keep", "--keep"])).toMatchObject({ keep: true });
    expect(parseArguments(defs, ["x", "--keep", "--no-keep"])).toMatchObject({ keep: false });
  });

  test("a negation with one dash, which the command line lets through, negates", () => {
    // checkArguments reads `-no-keep` as the negation of keep, as it reads `-keep` as keep:
    // the parser ignored it, so `bucky invite -no-backup-key` gave the backup key.
    expect(parseArguments(defs, ["x", "-no-keep"])).toMatchObject({ keep: false });
    expect(parseArguments(defs, ["x", "-no-json", "-json"])).toMatchObject({ json: true });
    expect(parseArguments(defs, ["x", "-json", "-no-json"])).toMatchObject({ json: false });
  });

  test("a missing positional and a missing required option are usage errors", () => {
    expect(() => parseArguments(defs, ["--json"])).toThrow(
      "Missing required positional argument: ID",
    );
    expect(() =>
      parseArguments({ to: { type: "string", required: true, description: "" } }, []),
    ).toThrow("Missing required argument: --to");
  });
});

describe("parseArguments on any words", () => {
  // What cli.ts lets through: known flags (any spelling, inline values, negations), a
  // value after each flag that takes one, words, `--` and `-`.
  const word = fc.constantFrom("x", "y", "out.txt", "a=b", "-", "false", "true", "3");
  const flag = fc.constantFrom(
    "--json",
    "--json=true",
    "--json=false",
    "--dry-run",
    "--dryRun",
    "--keep",
    "--no-keep",
    "--keep=false",
    "--no-json",
  );
  const withValue = fc
    .tuple(fc.constantFrom("--output", "-o", "--log-level", "--limit"), word)
    .map(([name, value]) => [name, value]);
  const inline = fc
    .tuple(fc.constantFrom("--output=", "--log-level=", "--limit="), word)
    .map(([name, value]) => [`${name}${value}`]);
  const tokens = fc
    .array(
      fc.oneof(
        word.map((w) => [w]),
        flag.map((f) => [f]),
        withValue,
        inline,
      ),
      { maxLength: 8 },
    )
    .chain((groups) =>
      fc
        .option(fc.array(fc.oneof(word, flag), { maxLength: 3 }))
        .map((tail) => [...groups.flat(), ...(tail ? ["--", ...tail] : [])]),
    );

  /** A flag and its negation both given: the last wins here, the negation always in citty. */
  const contradicts = (words: string[]) => {
    const flags = words.slice(0, words.includes("--") ? words.indexOf("--") : undefined);
    return flags.some(
      (word) =>
        word.startsWith("--no-") &&
        flags.some(
          (other) => other === `--${word.slice(5)}` || other.startsWith(`--${word.slice(5)}=`),
        ),
    );
  };

  test("read what citty's parser reads", () => {
    fc.assert(
      fc.property(tokens, (words) => {
        fc.pre(!contradicts(words));
        const theirs = (() => {
          try {
            return { args: seen(parseArgs(words, defs)) };
          } catch (error) {
            return { error: (error as Error).message };
          }
        })();
        if ("error" in theirs) {
          expect(() => parseArguments(defs, words)).toThrow();
          return;
        }
        expect(seen(parseArguments(defs, words))).toEqual(theirs.args);
      }),
      { numRuns: 2000 },
    );
  });
});
