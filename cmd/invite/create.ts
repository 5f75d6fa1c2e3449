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
      "bucky invite --no-backup-key          # the new device does not get the backup key",
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
    "backup-key": {
      type: "boolean",
      default: true,
      description:
        "Give the new device the zone's backup key, sealed to it, so it backs up from the start (--no-backup-key: do not)",
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
      backupKey: args["backup-key"],
    });
    return {
      token: invite.token,
      expiresAt: new Date(invite.expiresAt).toISOString(),
      uses: invite.uses,
      id: invite.id,
      givesBackupKey: invite.givesBackupKey,
    };
  },
  text: (invite) =>
    [
      "On the new device, run:",
      "",
      `  bucky join ${invite.token}`,
      "",
      `Valid until ${invite.expiresAt} for ${invite.uses} device${invite.uses === 1 ? "" : "s"}. Anyone with it can join: share it privately.`,
      invite.givesBackupKey
        ? "The new device gets the backup key (if this device holds it) and backs up on its own."
        : "The new device does not get the backup key: it backs up only once given it (`bucky backup key` there).",
    ].join("\n"),
});
