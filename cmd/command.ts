/**
 * How a bucky command is declared: citty's definition plus a typed result and how to
 * show it as text. The command builds the result; cli.ts prints it as text or JSON, so
 * every command has `--json` with no extra code.
 */
import type { ArgsDef, CommandDef, CommandMeta, ParsedArgs } from "citty";
import {
  type Context,
  createContext,
  type Environment,
  type GlobalFlags,
  globalArgs,
} from "./context.ts";

export interface CommandOutput {
  readonly result: object;
  /** The result as text for a person; only called without --json. */
  text(): string;
}

/** What `--help` shows about a command. */
export type Meta = CommandMeta & {
  name: string;
  description: string;
  examples?: readonly string[];
};

export interface BuckyCommand<A extends ArgsDef, R extends object> {
  meta: Meta;
  args: A;
  /** The log level on stderr unless --log-level says otherwise. */
  defaultLogLevel?: "warn" | "info";
  run(args: ParsedArgs<A>, context: Context): R | Promise<R>;
  text(result: R, args: ParsedArgs<A>): string;
}

/**
 * Wraps a command for citty. cli.ts hands it the environment as citty's `data`; its run
 * resolves the global flags into a Context and returns a CommandOutput.
 */
export function defineBuckyCommand<const A extends ArgsDef, R extends object>(
  command: BuckyCommand<A, R>,
): CommandDef {
  return {
    meta: command.meta,
    args: { ...command.args, ...globalArgs },
    async run({ args, data }): Promise<CommandOutput> {
      const typed = args as ParsedArgs<A>;
      const context = createContext(
        args as GlobalFlags,
        data as Environment,
        command.defaultLogLevel ?? "warn",
      );
      const result = await command.run(typed, context);
      return { result, text: () => command.text(result, typed) };
    },
  };
}

/** A group of commands (`bucky zone …`). */
export function defineGroup(meta: Meta, subCommands: CommandDef["subCommands"]): CommandDef {
  return { meta, subCommands };
}

/** citty lets a definition be a value, a promise, or a function returning either. */
export async function resolveValue<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}
