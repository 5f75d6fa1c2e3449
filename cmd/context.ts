/**
 * What every command receives: the global options, resolved once here from flags and the
 * environment (lib/ never reads process.env), and the process's edges.
 */
import { homedir } from "node:os";
import { resolve } from "node:path";
import { BuckyError, noteHome } from "../lib/errors.ts";
import { type Language, languageOfLocale } from "../lib/i18n/language.ts";
import type { Messages } from "../lib/i18n/messages.ts";
import { createLog, LOG_LEVELS, type Log, type LogLevelName } from "../lib/log.ts";

/** Flags every command accepts, anywhere on the command line. */
export const globalArgs = {
  json: { type: "boolean", description: "Print the result as one JSON document" },
  home: {
    type: "string",
    valueHint: "dir",
    description: "The node's home directory (default: $BUCKY_HOME, else ~/.bucky)",
  },
  "log-level": {
    type: "string",
    valueHint: "level",
    description: `Log on stderr down to: ${LOG_LEVELS.join(", ")} (default: warn)`,
  },
} as const;

export type Environment = Readonly<Record<string, string | undefined>>;

/** What cli.ts hands every command: the environment and where results go. */
export interface ProcessEdges {
  readonly env: Environment;
  readonly stdout: (text: string) => void;
  /** For a command whose printed result is a failure all the same. */
  readonly setExitCode: (code: number) => void;
}

export interface Context {
  readonly json: boolean;
  readonly home: string;
  readonly log: Log;
  readonly env: Environment;
  /** The language of text for people, from LANG (JSON is the same in every language). */
  readonly language: Language;
  /**
   * The words for people in `language`: loaded only for text (two catalogs of several
   * hundred messages, a millisecond a command with --json need not spend).
   */
  messages(): Promise<Messages>;
  now(): number;
  /** Prints a result on stdout: one JSON document with --json, else the text. */
  print(result: object, text: () => string): void;
}

export interface GlobalFlags {
  json?: boolean;
  home?: string;
  "log-level"?: string;
}

export function createContext(
  flags: GlobalFlags,
  edges: ProcessEdges,
  defaultLogLevel: LogLevelName,
): Context {
  const { env } = edges;
  const level = flags["log-level"] ?? defaultLogLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new BuckyError(
      "E_USAGE",
      `unknown log level "${level}"`,
      `Use one of: ${LOG_LEVELS.join(", ")}.`,
    );
  }
  if (flags.home === "")
    throw new BuckyError("E_USAGE", "--home needs a directory", "For example: --home ~/.bucky");
  const json = flags.json === true;
  const home = resolve(flags.home ?? (env.BUCKY_HOME || resolve(homedir(), ".bucky")));
  noteHome(home);
  const language = languageOfLocale(env);
  // For tests: a device whose clock is off by this much (a zone's devices share one clock there).
  const clockOffsetMs = Number(env.BUCKY_CLOCK_OFFSET_MS ?? 0) || 0;
  return {
    json,
    home,
    log: createLog({ level: level as LogLevelName }),
    env,
    language,
    messages: () =>
      import("../lib/i18n/messages.ts").then(({ messagesFor }) => messagesFor(language)),
    now: () => Date.now() + clockOffsetMs,
    print(result, text) {
      const output = json ? JSON.stringify(result, null, 2) : text();
      edges.stdout(output.endsWith("\n") ? output : `${output}\n`);
    },
  };
}
