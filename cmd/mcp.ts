/**
 * `bucky mcp`: a Model Context Protocol server on stdin and stdout, for an AI agent run on
 * this device, with exactly the access its token grants (`bucky agent grant`). The token
 * comes from the environment or from a file only its owner can read, never from the
 * command line, where every local user sees it (stdin carries the protocol itself).
 */
import { statSync } from "node:fs";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { AgentLimits } from "../lib/agent/limits.ts";
import { CALL_TIME_LIMIT_MS, CallsUnderWay, createAgentServer } from "../lib/agent/mcp.ts";
import { BuckyError, isErrorCode } from "../lib/errors.ts";
import { homePaths } from "../lib/home.ts";
import { daemonFetch } from "../lib/node/daemon-client.ts";
import { LocalApi } from "../lib/node/local-client.ts";
import { defineBuckyCommand } from "./command.ts";

/** A token is a few KiB at most. */
const MAX_TOKEN_FILE_BYTES = 16 * 1024;
const KEEP_IT_PRIVATE =
  "Pass it in $BUCKY_AGENT_TOKEN, or in a file only you can read: --token-file F (chmod 600 F).";

export default defineBuckyCommand({
  meta: {
    name: "mcp",
    description: "Serve an AI agent over MCP on stdin/stdout, with the access its token grants",
    examples: [
      "BUCKY_AGENT_TOKEN=eyJhbGciOi… bucky mcp",
      "bucky mcp --token-file ~/.config/agent/bucky-token   # a file only you can read",
    ],
  },
  args: {
    token: {
      type: "string",
      valueHint: "token",
      description: "Refused: on the command line every local user sees it (see --token-file)",
    },
    "token-file": {
      type: "string",
      valueHint: "file",
      description:
        "Read the agent's token from this file, readable by you alone (default: $BUCKY_AGENT_TOKEN)",
    },
  },
  async run(args, context) {
    if (args.token !== undefined)
      throw new BuckyError(
        "E_USAGE",
        "a token on the command line is seen by every user of this machine (in the process list)",
        KEEP_IT_PRIVATE,
      );
    const file = args["token-file"];
    const token = file ? await readTokenFile(file) : context.env.BUCKY_AGENT_TOKEN?.trim();
    if (!token)
      throw new BuckyError(
        "E_USAGE",
        "an agent needs a token",
        `Make one with \`bucky agent grant <name> --read …\`. ${KEEP_IT_PRIVATE}`,
      );
    const api = new LocalApi(daemonFetch(context.home));
    // A token that does not work is said at once, before the agent's first call (and
    // the refusal is in the audit log).
    const checked = await api.post<{ agent: string }>("/v1/agents/check", {
      token,
      call: { tool: "connect", arguments: { via: "stdio" }, dryRun: false },
    });
    // As the daemon said it: a token that does not work (E_PERMISSION), or one whose
    // agent is calling the device too fast for now (E_UNAVAILABLE: try again later).
    if (!checked.ok)
      throw new BuckyError(
        isErrorCode(checked.error.code) && checked.error.code !== "E_INTERNAL"
          ? checked.error.code
          : "E_PERMISSION",
        checked.error.message,
        checked.error.hint,
      );
    const underWay = new CallsUnderWay();
    const server = createAgentServer({
      api,
      token,
      paths: homePaths(context.home),
      now: context.now,
      log: context.log,
      limits: new AgentLimits(),
      underWay,
    });
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => resolve();
      // The agent hung up: stdin ends.
      process.stdin.once("end", () => resolve());
    });
    await server.connect(transport);
    context.log.info("agent connected", { agent: checked.data.agent, via: "stdio" });
    await closed;
    // A call the agent sent before it hung up is done and audited, not cut part way.
    await underWay.settled(CALL_TIME_LIMIT_MS);
    return undefined;
  },
  text: () => "",
});

/** The token in `file`, which must be a small regular file that only its owner can read. */
async function readTokenFile(file: string): Promise<string> {
  let info: ReturnType<typeof statSync>;
  try {
    info = statSync(file);
  } catch (error) {
    throw new BuckyError("E_NOT_FOUND", `cannot read the token file ${file}`, undefined, {
      cause: error,
    });
  }
  if (!info.isFile() || info.size > MAX_TOKEN_FILE_BYTES)
    throw new BuckyError("E_INVALID_INPUT", `${file} is not a token file (a small regular file)`);
  if ((info.mode & 0o077) !== 0)
    throw new BuckyError(
      "E_PERMISSION",
      `${file} can be read or changed by others (mode ${(info.mode & 0o777).toString(8)}), and it holds a token`,
      `Make it yours alone: chmod 600 ${file}`,
    );
  return (await Bun.file(file).text()).trim();
}
