/**
 * How a command starts or stops this home's daemon: the command line that runs this same
 * bucky, the daemon's --port and --listen, and how it is supervised in the background.
 */
import { createHash } from "node:crypto";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { BuckyError } from "../../lib/errors.ts";
import type { BackgroundOptions } from "../../lib/node/background.ts";
import { DEFAULT_PORT } from "../../lib/node/node.ts";
import { systemdRunning, UNIT_NAME } from "../../lib/node/systemd.ts";
import type { Context } from "../context.ts";

/** The command that starts this same bucky: the compiled binary, or bun and the entry script. */
export function buckyCommandLine(): string[] {
  // In a compiled binary the entry script lives in Bun's embedded file system.
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}

/** `bucky daemon`'s flags for where it listens, shared by the commands that start it. */
export const listenArgs = {
  port: {
    type: "string",
    valueHint: "n",
    description: `Port other devices connect to (default: ${DEFAULT_PORT}; 0 picks a free one)`,
  },
  listen: {
    type: "string",
    valueHint: "addr",
    description: "Address to listen on (default: 0.0.0.0, every interface)",
  },
} as const;

/** The daemon's --port as a number (DEFAULT_PORT when not given), or a usage error. */
export function portArg(port: string | undefined): number {
  const value = port === undefined ? DEFAULT_PORT : Number(port);
  if (!/^\d+$/.test(port ?? "0") || !Number.isInteger(value) || value > 65535)
    throw new BuckyError(
      "E_USAGE",
      `--port ${port} is not a port number`,
      "Use 0 to 65535 (0 picks a free port).",
    );
  return value;
}

/**
 * Those flags again, to pass on to `bucky daemon`; checked here first, so a command that
 * makes something before the daemon starts (a zone, a join) refuses them before it does.
 */
export function daemonArgs(args: { port?: string; listen?: string }): string[] {
  portArg(args.port);
  return [
    ...(args.port ? ["--port", args.port] : []),
    ...(args.listen ? ["--listen", args.listen] : []),
  ];
}

/**
 * Environment: BUCKY_SUPERVISOR=process runs the daemon as a detached process even
 * where systemd runs (a container, a test), systemd asks for systemd.
 */
export function backgroundOptions(
  context: Context,
  args: { port?: string; listen?: string } = {},
): BackgroundOptions {
  const supervisor = context.env.BUCKY_SUPERVISOR;
  return {
    home: context.home,
    command: buckyCommandLine(),
    daemonArgs: daemonArgs(args),
    unitName: unitNameFor(context.home),
    useSystemd: supervisor === "systemd" || (supervisor !== "process" && systemdRunning()),
    system: process.getuid?.() === 0,
    env: context.env,
    log: context.log,
  };
}

/** bucky.service for ~/.bucky; another home's unit is named after its path. */
function unitNameFor(home: string): string {
  if (resolve(home) === resolve(homedir(), ".bucky")) return UNIT_NAME;
  return `bucky-${createHash("sha256").update(resolve(home)).digest("hex").slice(0, 8)}.service`;
}
