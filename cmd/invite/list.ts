/** `bucky invite list`: the zone's open invitations, the same from every device. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { ZoneInvite } from "../../lib/zone/invite-records.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description: "List the zone's open invitations (whichever device issued them)",
  },
  args: {},
  async run(_args, context) {
    const { invites } = await requestDaemon<{ invites: ZoneInvite[] }>(
      context.home,
      "GET",
      "/v1/invites",
    );
    return {
      invites: invites.map((invite) => ({
        ...invite,
        createdAt: new Date(invite.createdAt).toISOString(),
        expiresAt: new Date(invite.expiresAt).toISOString(),
      })),
    };
  },
  text: ({ invites }) =>
    invites.length === 0
      ? "No open invitations."
      : invites
          .map((i) =>
            [
              `${i.id}  ${i.status.padEnd(7)}  uses left ${i.usesLeft}  expires ${i.expiresAt}`,
              i.status === "revoked"
                ? `  revoked by ${i.revokedBy.join(", ")}: ${i.inviter} refuses it`
                : `  joins through ${i.inviter}, which must be online to admit the new device`,
            ].join("\n"),
          )
          .join("\n"),
});
