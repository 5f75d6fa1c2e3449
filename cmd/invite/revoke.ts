/** `bucky invite revoke <id>`: make an invitation unusable. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { InviteRecord } from "../../lib/zone/invites.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "revoke", description: "Revoke an invitation so nobody can join with it" },
  args: {
    id: {
      type: "positional",
      required: true,
      description: "The invitation's id (see `bucky invite list`)",
    },
  },
  run: (args, context) =>
    requestDaemon<InviteRecord>(
      context.home,
      "POST",
      `/v1/invites/${encodeURIComponent(args.id)}/revoke`,
    ),
  text: (invite) => `Revoked invitation ${invite.id}.`,
});
