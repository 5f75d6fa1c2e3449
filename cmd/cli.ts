/**
 * The command line: finds the command, checks its flags, runs it and prints its result
 * (text, or one JSON document with --json) on stdout, or its error on stderr. Returns the
 * exit code; only main.ts exits.
 */
import type { ArgsDef, CommandDef } from "citty";
import { BuckyError, toBuckyError } from "../lib/errors.ts";
import { kebabCase, parseArguments } from "./arguments.ts";
import { type Meta, resolveValue } from "./command.ts";
import { rootCommand } from "./commands.ts";
import { type Environment, globalArgs, type ProcessEdges } from "./context.ts";
import { renderUsage } from "./usage.ts";

export interface Streams {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** Writes still on their way out; see flushOutput. */
const pendingWrites: Promise<unknown>[] = [];

const processStreams: Streams = {
  stdout: (text) => pendingWrites.push(Bun.write(Bun.stdout, text)),
  stderr: (text) => pendingWrites.push(Bun.write(Bun.stderr, text)),
};

/**
 * Resolves once everything printed has been written. Writes to a pipe are asynchronous,
 * and exiting before they finish would cut a large result short.
 */
export async function flushOutput(): Promise<void> {
  await Promise.all(pendingWrites);
}

const HELP_FLAGS = new Set(["--help", "-h"]);
const VERSION_FLAGS = new Set(["--version", "-V"]);

export async function main(
  argv: readonly string[],
  env: Environment = process.env,
  streams: Streams = processStreams,
): Promise<number> {
  const json = asksForJson(argv);
  try {
    const { command, rest, path } = await resolveCommand(argv);
    const help = rest.some((token) => HELP_FLAGS.has(token));
    if (!isLeaf(command)) {
      // A group takes a command, and the global flags (with their values) beside it.
      const word = firstWord(rest, globalArgs as ArgsDef);
      if (word >= 0) throw unknownCommand(rest[word] as string, path);
      checkArguments(
        globalArgs as ArgsDef,
        rest.filter((token) => !HELP_FLAGS.has(token)),
        path,
      );
      // Its usage is text: asked for JSON, it is an error saying what is missing.
      if (json && !help)
        throw new BuckyError(
          "E_USAGE",
          `${path} needs a command`,
          `Run \`${path} --help\` to see its commands.`,
        );
    }
    if (help || !isLeaf(command)) {
      streams.stdout(`${await renderUsage(command, path)}\n`);
      return 0;
    }
    const defs = (await resolveValue(command.args)) ?? {};
    const meta = (await resolveValue(command.meta)) as Partial<Meta> | undefined;
    checkArguments(defs, rest, path, meta?.variadic === true);
    let exitCode = 0;
    const edges: ProcessEdges = {
      env,
      stdout: streams.stdout,
      setExitCode: (code) => {
        exitCode = code;
      },
    };
    const args = parseArguments(defs, rest);
    await command.run?.({ rawArgs: [...rest], args, data: edges, cmd: command });
    return exitCode;
  } catch (thrown) {
    const error = toBuckyError(thrown);
    if (json) {
      streams.stderr(`${JSON.stringify({ error: error.toJSON() })}\n`);
    } else {
      streams.stderr(`error: ${error.message}\n${error.hint ? `hint: ${error.hint}\n` : ""}`);
    }
    if (error.code === "E_INTERNAL" && error.cause instanceof Error && env.BUCKY_DEBUG) {
      streams.stderr(`${error.cause.stack}\n`);
    }
    return error.exitCode;
  }
}

/**
 * Whether the command line asks for JSON, read as the arguments' parser reads the flag
 * (`--json`, `-json`, `--json=false`, `--no-json`; the last one wins; nothing after `--`):
 * an error found before the command's own arguments are parsed is printed the same way
 * its result would have been.
 */
function asksForJson(argv: readonly string[]): boolean {
  let json = false;
  for (const token of argv) {
    if (token === "--") break;
    const [spelled, inline] = token.startsWith("-") ? splitFlag(token) : [undefined, undefined];
    if (spelled === "json") json = inline === undefined || inline !== "false";
    else if (spelled === "no-json") json = false;
  }
  return json;
}

function isLeaf(command: CommandDef): boolean {
  return typeof command.run === "function";
}

/**
 * Walks down the command tree by the words on the command line. Flags may stand anywhere
 * (`bucky --home X status` and `bucky status --home X` mean the same), so they are
 * skipped, with their values. A command that runs by itself and also has subcommands
 * (`bucky daemon`, `bucky daemon install`) takes a word that names none as its argument.
 */
async function resolveCommand(argv: readonly string[]) {
  let command: CommandDef = rootCommand;
  const rest = [...argv];
  const path = ["bucky"];
  if (rest.length > 0 && rest.every((token) => VERSION_FLAGS.has(token) || token === "--json")) {
    rest.splice(0, rest.length, "version", ...rest.filter((token) => token === "--json"));
  }
  for (;;) {
    const subCommands = await resolveValue(command.subCommands);
    if (!subCommands) break;
    const index = firstWord(rest, (await resolveValue(command.args)) ?? {});
    if (index < 0) break;
    const name = rest[index] as string;
    const next = subCommands[name];
    if (!next && isLeaf(command)) break;
    if (!next) throw unknownCommand(name, path.join(" "));
    command = await resolveValue(next);
    path.push(name);
    rest.splice(index, 1);
  }
  return { command, rest, path: path.join(" ") };
}

function firstWord(tokens: readonly string[], args: ArgsDef): number {
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === "--") return -1;
    if (!token.startsWith("-")) return i;
    if (takesValue(token, args)) i++;
  }
  return -1;
}

/** Whether `token` is a flag (of `args` or global) whose value is the next word. */
function takesValue(token: string, args: ArgsDef): boolean {
  if (token.includes("=")) return false;
  const spelled = token.replace(/^--?/, "");
  const def = flagsOf(args).get(spelled) ?? flagsOf(globalArgs as ArgsDef).get(spelled);
  return def?.type === "string" || def?.type === "enum";
}

/** The flags of `args` by every spelling the command line accepts: name, kebab-case, aliases. */
function flagsOf(args: ArgsDef): Map<string, ArgsDef[string]> {
  const flags = new Map<string, ArgsDef[string]>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const alias = "alias" in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    for (const spelling of [name, kebabCase(name), ...aliases]) flags.set(spelling, def);
  }
  return flags;
}

/** The positional arguments of `args` as usage writes them: `<key> <value>`. */
function positionalNames(args: ArgsDef): string {
  return Object.entries(args)
    .filter(([, def]) => def.type === "positional")
    .map(([name]) => `<${name}>`)
    .join(" ");
}

/** Refuses unknown flags, flags missing their value, and extra positional arguments. */
function checkArguments(
  args: ArgsDef,
  tokens: readonly string[],
  path: string,
  /** The last positional takes every word after it (Meta.variadic). */
  variadic = false,
): void {
  const flags = flagsOf(args);
  const positionalSlots = variadic
    ? Number.POSITIVE_INFINITY
    : Object.values(args).filter((def) => def.type === "positional").length;
  const help = `Run \`${path} --help\` to see what it accepts.`;
  let positionals = 0;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === "--") {
      // Everything after it is a value, and takes a slot as any other.
      const extra = tokens[i + 1 + positionalSlots - positionals];
      if (extra !== undefined)
        throw new BuckyError("E_USAGE", `${path} does not take the argument "${extra}"`, help);
      break;
    }
    if (!token.startsWith("-") || token === "-") {
      positionals++;
      if (positionals > positionalSlots) {
        throw new BuckyError("E_USAGE", `${path} does not take the argument "${token}"`, help);
      }
      continue;
    }
    const [spelled, inlineValue] = splitFlag(token);
    const negated = spelled.startsWith("no-") ? flags.get(spelled.slice(3)) : undefined;
    const def = flags.get(spelled) ?? (negated?.type === "boolean" ? negated : undefined);
    if (!def) {
      const asValue =
        positionalSlots > 0 && !token.startsWith("--")
          ? ` If ${token} is a value, give the options first, then -- and the values: \`${path} [options] -- ${positionalNames(args)}\`.`
          : "";
      throw new BuckyError(
        "E_USAGE",
        `${path} has no option ${token.split("=")[0]}`,
        `${help}${asValue}`,
      );
    }
    if (def.type === "boolean" && inlineValue !== undefined)
      checkSwitch(token, !flags.has(spelled));
    if ((def.type === "string" || def.type === "enum") && inlineValue === undefined) {
      const value = tokens[i + 1];
      if (value === undefined || value.startsWith("--")) {
        throw new BuckyError("E_USAGE", `${token} needs a value`, help);
      }
      i++;
    }
  }
}

/**
 * Refuses an on/off flag given a value it would misread: `--wait=maybe` (read as on) and
 * `--no-wait=false` (read as off, the negation winning whatever its value).
 */
function checkSwitch(token: string, negated: boolean): void {
  const [spelled, value] = splitFlag(token);
  const name = negated ? spelled.slice(3) : spelled;
  const hint = `Give --${name} or --no-${name}, with no value (or --${name}=true, --${name}=false).`;
  if (negated)
    throw new BuckyError("E_USAGE", `--${spelled} takes no value (given "${value}")`, hint);
  if (value !== "true" && value !== "false")
    throw new BuckyError("E_USAGE", `--${name} is on or off, not "${value}"`, hint);
}

function splitFlag(token: string): [string, string | undefined] {
  const name = token.replace(/^--?/, "");
  const equals = name.indexOf("=");
  return equals < 0 ? [name, undefined] : [name.slice(0, equals), name.slice(equals + 1)];
}

function unknownCommand(name: string, path: string): BuckyError {
  return new BuckyError(
    "E_USAGE",
    `unknown command "${name}"`,
    `Run \`${path} --help\` to see the commands.`,
  );
}
