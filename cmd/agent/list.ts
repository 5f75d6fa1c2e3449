/** `bucky agent list`: the agents granted access, and what they may do. */
import type { AgentRecord } from "../../lib/agent/grants.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the AI agents granted access to the zone" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ agents: AgentRecord[] }>(context.home, "GET", "/v1/agents"),
  text: ({ agents }) =>
    agents.length === 0
      ? "No agents. Grant one with `bucky agent grant <name> --read …`."
      : agents
          .map(
            (a) =>
              `${a.agent}  ${a.revokedAt ? `revoked ${a.revokedAt}` : `until ${a.expiresAt}`}  read: ${a.scopes.read.join(",") || "-"}  write: ${a.scopes.write.join(",") || "-"}  act: ${a.scopes.act.join(",") || "-"}`,
          )
          .join("\n"),
});
