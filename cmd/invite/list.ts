/** `bucky invite list`: invitations this device issued, and what became of them. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { InviteRecord } from "../../lib/zone/invites.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List the invitations this device issued" },
  args: {},
  async run(_args, context) {
    const { invites } = await requestDaemon<{ invites: InviteRecord[] }>(
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
      ? "No invitations."
      : invites
          .map(
            (i) =>
              `${i.id}  ${i.status.padEnd(7)}  uses left ${i.usesLeft}  expires ${i.expiresAt}`,
          )
          .join("\n"),
});
