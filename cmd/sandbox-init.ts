/**
 * `bucky sandbox-init`: the first process inside an app's sandbox, started by the daemon
 * (lib/apps/runner.ts), never by people, so it is in no help and parses its own few
 * arguments: `[--forward <socket> <port>] [--wait-network] [--bun] -- <command…>`, or
 * `--forward <socket> <port>` alone, to forward until its standard input ends.
 */
import { runSandboxInit } from "../lib/apps/sandbox-init.ts";

export async function sandboxInit(argv: readonly string[]): Promise<number> {
  const end = argv.indexOf("--");
  const flags = end < 0 ? argv : argv.slice(0, end);
  const command = end < 0 ? [] : argv.slice(end + 1);
  const at = flags.indexOf("--forward");
  const socket = at >= 0 ? flags[at + 1] : undefined;
  const port = at >= 0 ? Number(flags[at + 2]) : Number.NaN;
  if ((command.length === 0 && at < 0) || (at >= 0 && (!socket || !Number.isInteger(port)))) {
    process.stderr.write(
      "bucky sandbox-init is run by the daemon inside an app's sandbox, not by hand\n",
    );
    return 2;
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env))
    if (value !== undefined) env[name] = value;
  // The app, when it is a `bun` app, is this very binary, told to behave as bun.
  if (flags.includes("--bun")) env.BUN_BE_BUN = "1";
  return runSandboxInit({
    ...(socket ? { forward: { socket, port } } : {}),
    waitForNetwork: flags.includes("--wait-network"),
    command,
    env,
    say: (line) => process.stderr.write(`${line}\n`),
  });
}
