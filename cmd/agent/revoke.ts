/** `bucky agent revoke <name>`: the agent's token stops working, on every device as it syncs. */
import type { AgentRecord } from "../../lib/agent/grants.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "revoke",
    description: "Take an AI agent's access away (its token stops working everywhere)",
  },
  args: { name: { type: "positional", required: true, description: "The agent's name" } },
  run: (args, context) =>
    requestDaemon<AgentRecord & { heldElsewhere: HeldElsewhere }>(
      context.home,
      "POST",
      `/v1/agents/${encodeURIComponent(args.name)}/revoke`,
    ),
  text: (r) =>
    [
      `Agent ${r.agent} is revoked (${r.revokedAt}): its token no longer works on this device, and on the others as they sync.`,
      ...notHeldYetNote(r.heldElsewhere, "revocation"),
    ].join("\n"),
});
