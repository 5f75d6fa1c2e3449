/** `bucky agent revoke <name>`: the agent's token stops working, on every device as it syncs. */
import type { AgentRecord } from "../../lib/agent/grants.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "revoke",
    description: "Take an AI agent's access away (its token stops working everywhere)",
  },
  args: {
    name: { type: "positional", required: true, description: "The agent's name" },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<AgentRecord & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/agents/${encodeURIComponent(args.name)}/revoke`, args),
    ),
  text: (r) =>
    [
      `Agent ${r.agent} is revoked (${r.revokedAt}): its token no longer works on this device, and on the others as they sync.`,
      ...notHeldYetNote(r, "revocation"),
    ].join("\n"),
});
