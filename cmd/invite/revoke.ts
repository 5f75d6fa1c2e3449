/** `bucky invite revoke <id>`: make an invitation of the zone unusable, from any device. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { pathAsked } from "../../lib/node/held-wait.ts";
import type { ZoneInvite } from "../../lib/zone/invite-records.ts";
import { defineBuckyCommand } from "../command.ts";
import { waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "revoke", description: "Revoke an invitation so nobody can join with it" },
  args: {
    id: {
      type: "positional",
      required: true,
      description: "The invitation's id (see `bucky invite list`)",
    },
    ...waitArgs(),
  },
  async run(args, context) {
    const invite = await requestDaemon<ZoneInvite & { heardByInviter: boolean; waited?: false }>(
      context.home,
      "POST",
      pathAsked(`/v1/invites/${encodeURIComponent(args.id)}/revoke`, args),
    );
    return {
      ...invite,
      createdAt: new Date(invite.createdAt).toISOString(),
      expiresAt: new Date(invite.expiresAt).toISOString(),
    };
  },
  text: (invite) =>
    invite.heardByInviter
      ? `Revoked invitation ${invite.id}: ${invite.inviter}, which admits with it, refuses it.`
      : `Revoked invitation ${invite.id}, but ${invite.inviter}, which admits with it, has not heard yet (it may be offline): it refuses it once it does, and until then could still admit a device with it.`,
});
