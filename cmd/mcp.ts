/**
 * `bucky mcp`: a Model Context Protocol server on stdin and stdout, for an AI agent run on
 * this device, with exactly the access its token grants (`bucky agent grant`).
 */
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createAgentServer } from "../lib/agent/mcp.ts";
import { BuckyError } from "../lib/errors.ts";
import { homePaths } from "../lib/home.ts";
import { daemonFetch } from "../lib/node/daemon-client.ts";
import { LocalApi } from "../lib/node/local-client.ts";
import { defineBuckyCommand } from "./command.ts";

export default defineBuckyCommand({
  meta: {
    name: "mcp",
    description: "Serve an AI agent over MCP on stdin/stdout, with the access its token grants",
    examples: ["bucky mcp --token eyJhbGciOi…", "BUCKY_AGENT_TOKEN=eyJhbGciOi… bucky mcp"],
  },
  args: {
    token: {
      type: "string",
      valueHint: "token",
      description: "The agent's token (default: $BUCKY_AGENT_TOKEN)",
    },
  },
  async run(args, context) {
    const token = args.token ?? context.env.BUCKY_AGENT_TOKEN;
    if (!token)
      throw new BuckyError(
        "E_USAGE",
        "an agent needs a token",
        "Make one with `bucky agent grant <name> --read …`, then pass --token.",
      );
    const api = new LocalApi(daemonFetch(context.home));
    // A token that does not work is said at once, before the agent's first call.
    const checked = await api.post<{ agent: string }>("/v1/agents/check", { token });
    if (!checked.ok)
      throw new BuckyError("E_PERMISSION", checked.error.message, checked.error.hint);
    const server = createAgentServer({
      api,
      token,
      paths: homePaths(context.home),
      now: context.now,
      log: context.log,
      limits: new Map(),
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
    return undefined;
  },
  text: () => "",
});
