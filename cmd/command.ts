/**
 * How a bucky command is declared: citty's definition plus a typed result and how to
 * show it as text. The command builds the result and the context prints it as text or
 * JSON, so every command has `--json` with no extra code.
 */
import type { ArgsDef, CommandDef, CommandMeta, ParsedArgs } from "citty";
import type { Messages } from "../lib/i18n/messages.ts";
import {
  type Context,
  createContext,
  type GlobalFlags,
  globalArgs,
  type ProcessEdges,
} from "./context.ts";
import { NOT_WAITED_NOTE, notWaited } from "./held-elsewhere.ts";

/** What `--help` shows about a command. */
export type Meta = CommandMeta & {
  name: string;
  description: string;
  examples?: readonly string[];
  /** Its last positional argument takes every word after it too (`bucky store search photo editor`). */
  variadic?: boolean;
};

export interface BuckyCommand<A extends ArgsDef, R extends object> {
  meta: Meta;
  args: A;
  /** The log level on stderr unless --log-level says otherwise. */
  defaultLogLevel?: "warn" | "info";
  /** The result; undefined when the command printed what it had to say itself. */
  run(args: ParsedArgs<A>, context: Context): R | undefined | Promise<R | undefined>;
  /** The result for people, in the words of `t` (the language LANG names). */
  text(result: R, args: ParsedArgs<A>, t: Messages): string;
  /**
   * The exit code for a result that is printed but is not a success (a verify that found
   * damage): the result still goes to stdout, whole, and the process says it failed.
   */
  exitCode?(result: R): number;
  /** For a command that also has subcommands (`bucky daemon install`). */
  subCommands?: CommandDef["subCommands"];
}

/**
 * Wraps a command for citty. cli.ts hands it the process's edges as citty's `data`; its
 * run resolves the global flags into a Context, runs, and prints the result.
 */
export function defineBuckyCommand<const A extends ArgsDef, R extends object>(
  command: BuckyCommand<A, R>,
): CommandDef {
  return {
    meta: command.meta,
    args: { ...command.args, ...globalArgs },
    ...(command.subCommands ? { subCommands: command.subCommands } : {}),
    async run({ args, data }): Promise<void> {
      const typed = args as ParsedArgs<A>;
      const context = createContext(
        args as GlobalFlags,
        data as ProcessEdges,
        command.defaultLogLevel ?? "warn",
      );
      const result = await command.run(typed, context);
      if (result === undefined) return;
      if (notWaited(result)) context.log.warn(NOT_WAITED_NOTE);
      // print calls text only without --json: only then are the words loaded.
      const t = context.json ? undefined : await context.messages();
      context.print(result, () => command.text(result, typed, t as Messages));
      const code = command.exitCode?.(result) ?? 0;
      if (code !== 0) (data as ProcessEdges).setExitCode(code);
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
