/** `bucky invite`: a join token for another device (on a device holding the owner key). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { IssuedInvite } from "../../lib/zone/invites.ts";
import { defineBuckyCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";

export default defineBuckyCommand({
  meta: {
    name: "invite",
    description: "Create an invitation for another device to join this zone",
    examples: [
      "bucky invite                      # one device, within the hour",
      "bucky invite --ttl 1d --uses 3",
    ],
  },
  args: {
    ttl: {
      type: "string",
      valueHint: "duration",
      description: "How long it is valid (default: 1h; at most 30d)",
    },
    uses: {
      type: "string",
      valueHint: "n",
      description: "How many devices may join with it (default: 1)",
    },
  },
  subCommands: {
    list: () => import("./list.ts").then((m) => m.default),
    revoke: () => import("./revoke.ts").then((m) => m.default),
  },
  async run(args, context) {
    const ttlMs = parseDuration(args.ttl ?? "1h", "--ttl");
    const uses = Number(args.uses ?? "1");
    const invite = await requestDaemon<IssuedInvite>(context.home, "POST", "/v1/invites", {
      ttlMs,
      uses,
    });
    return {
      token: invite.token,
      expiresAt: new Date(invite.expiresAt).toISOString(),
      uses: invite.uses,
      id: invite.id,
    };
  },
  text: (invite) =>
    [
      "On the new device, run:",
      "",
      `  bucky join ${invite.token}`,
      "",
      `Valid until ${invite.expiresAt} for ${invite.uses} device${invite.uses === 1 ? "" : "s"}. Anyone with it can join: share it privately.`,
    ].join("\n"),
});
