/** `bucky invite revoke <id>`: make an invitation of the zone unusable, from any device. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { ZoneInvite } from "../../lib/zone/invite-records.ts";
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
  async run(args, context) {
    const invite = await requestDaemon<ZoneInvite>(
      context.home,
      "POST",
      `/v1/invites/${encodeURIComponent(args.id)}/revoke`,
    );
    return {
      ...invite,
      createdAt: new Date(invite.createdAt).toISOString(),
      expiresAt: new Date(invite.expiresAt).toISOString(),
    };
  },
  text: (invite) =>
    `Revoked invitation ${invite.id}: ${invite.inviter} refuses it once it hears of this (at its next sync).`,
});
