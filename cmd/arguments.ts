/**
 * A command's arguments from its words, as citty's parser gives them (names in both their
 * spelling and camelCase, `_` for the positionals, defaults, `--no-x`, `--x=false`), for
 * what cli.ts lets through (checkArguments refuses unknown flags and missing values
 * first); of a flag and its negation, the last given wins (citty let the negation win),
 * and `-no-x` negates x as `--no-x` does (checkArguments lets both through; citty read
 * the first as short flags).
 * Ours because citty's loads node:util for its parser: 2 of the 22 ms a profile of
 * `bucky status` spent, for a dozen tokens.
 */
import type { ArgsDef, ParsedArgs } from "citty";
import { BuckyError } from "../lib/errors.ts";

type ArgDef = ArgsDef[string];

export function parseArguments(defs: ArgsDef, tokens: readonly string[]): ParsedArgs {
  const bySpelling = new Map<string, [string, ArgDef]>();
  for (const [name, def] of Object.entries(defs)) {
    if (def.type === "positional") continue;
    for (const spelling of [name, camelCase(name), kebabCase(name), ...aliasesOf(def)]) {
      bySpelling.set(spelling, [name, def]);
    }
  }
  const values = new Map<string, string | boolean>();
  const positionals: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === "--") {
      positionals.push(...tokens.slice(i + 1));
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      positionals.push(token);
      continue;
    }
    const bare = token.replace(/^--?/, "");
    const equals = bare.indexOf("=");
    const spelled = equals < 0 ? bare : bare.slice(0, equals);
    const inline = equals < 0 ? undefined : bare.slice(equals + 1);
    const found = bySpelling.get(spelled);
    if (!found) {
      // `--no-x` and `-no-x` alike, as checkArguments reads them: the negation of x.
      const negated = spelled.startsWith("no-") ? bySpelling.get(spelled.slice(3)) : undefined;
      if (negated) values.set(negated[0], false);
      continue;
    }
    const [name, def] = found;
    if (def.type === "boolean") {
      values.set(name, inline === undefined ? true : inline !== "false");
    } else {
      const value = inline ?? tokens[i + 1];
      if (inline === undefined) i++;
      values.set(name, value ?? "");
    }
  }
  const args: Record<string, unknown> = { _: positionals };
  const rest = [...positionals];
  for (const [name, def] of Object.entries(defs)) {
    let value: unknown;
    if (def.type === "positional") {
      value = rest.shift() ?? def.default;
      if (value === undefined && def.required !== false) {
        throw usage(`Missing required positional argument: ${name.toUpperCase()}`);
      }
    } else {
      value = values.has(name) ? values.get(name) : def.default;
      if (def.type === "enum" && value !== undefined && def.options?.length) {
        if (!def.options.includes(value as string)) {
          throw usage(
            `Invalid value for argument: --${name} (${value}). Expected one of: ${def.options.join(", ")}.`,
          );
        }
      }
      if (value === undefined && "required" in def && def.required) {
        throw usage(`Missing required argument: --${name}`);
      }
    }
    if (value === undefined) continue;
    for (const key of [name, camelCase(name), kebabCase(name), ...aliasesOf(def)])
      args[key] = value;
  }
  return args as ParsedArgs;
}

function aliasesOf(def: ArgDef): string[] {
  const alias = "alias" in def ? def.alias : undefined;
  return alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
}

function usage(message: string): BuckyError {
  return new BuckyError("E_USAGE", message, "Run the command with --help.");
}

function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}

export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);
}
