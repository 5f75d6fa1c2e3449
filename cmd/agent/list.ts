/** `bucky agent list`: the agents granted access, what they may do, and whether they work. */
import type { ListedAgent } from "../../lib/agent/standing.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the AI agents granted access to the zone" },
  args: {},
  run: (_args, context) =>
    requestDaemon<{ agents: ListedAgent[] }>(context.home, "GET", "/v1/agents"),
  text: ({ agents }) =>
    agents.length === 0
      ? "No agents. Grant one with `bucky agent grant <name> --read …`."
      : agents
          .map((a) => {
            const revoked = a.stopped?.why === "revoked";
            const state = a.working
              ? `until ${a.expiresAt}`
              : revoked
                ? `revoked ${a.revokedAt}`
                : "NOT WORKING";
            const line = `${a.agent}  ${state}  granted by ${a.grantedBy}  read: ${a.scopes.read.join(",") || "-"}  write: ${a.scopes.write.join(",") || "-"}  act: ${a.scopes.act.join(",") || "-"}`;
            return a.stopped && !revoked
              ? `${line}\n  ${a.stopped.message}\n  ${a.stopped.hint}`
              : line;
          })
          .join("\n"),
});
