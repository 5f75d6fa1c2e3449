import { describe, expect, test } from "bun:test";
import { type ArgsDef, parseArgs } from "citty";
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

  test("a missing positional and a missing required option are usage errors", () => {
    expect(() => parseArguments(defs, ["--json"])).toThrow(
      "Missing required positional argument: ID",
    );
    expect(() =>
      parseArguments({ to: { type: "string", required: true, description: "" } }, []),
    ).toThrow("Missing required argument: --to");
  });
});
