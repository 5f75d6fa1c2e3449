/** `bucky agent log`: what agents did through any device of the zone, newest first. */
import type { AuditEntry } from "../../lib/agent/audit.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { AGENT_LOG_LIMIT, wholeNumberQuery } from "../../lib/node/query-number.ts";
import { defineBuckyCommand } from "../command.ts";
import { printable } from "../text.ts";

export default defineBuckyCommand({
  meta: {
    name: "log",
    description: "Show what AI agents did through every device of the zone, newest first",
  },
  args: {
    agent: { type: "string", valueHint: "name", description: "Only this agent" },
    limit: {
      type: "string",
      valueHint: "n",
      description: "At most this many entries (default: 100)",
    },
  },
  run: (args, context) =>
    requestDaemon<{ entries: AuditEntry[] }>(
      context.home,
      "GET",
      `/v1/agents/log?limit=${wholeNumberQuery(args.limit, "--limit", AGENT_LOG_LIMIT)}${args.agent ? `&agent=${encodeURIComponent(args.agent)}` : ""}`,
    ),
  text: ({ entries }) =>
    entries.length === 0
      ? "No agent has done anything in the zone yet (in the last 90 days)."
      : entries
          // An outcome quotes what the agent sent (an app's name it made up): a carriage
          // return or an escape sequence in it would print a line of the agent's making.
          .map((e) =>
            printable(
              `${e.at}  ${e.device}  ${e.agent}  ${e.tool}${e.dryRun ? " (dry run)" : ""}  ${JSON.stringify(e.arguments)}  ${e.ok ? "ok" : "REFUSED/FAILED"}: ${e.outcome.split("\n")[0]?.slice(0, 120)}`,
            ),
          )
          .join("\n"),
});
