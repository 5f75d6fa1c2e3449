/** `bucky devices revoke <name>`: remove a device from the zone (owner only). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: {
    name: "revoke",
    description:
      "Remove a device: its later writes are refused everywhere and it can no longer sync",
  },
  args: { name: { type: "positional", required: true, description: "The device's name" } },
  run: (args, context) =>
    requestDaemon<{ name: string; id: string; keptSeq: number }>(
      context.home,
      "POST",
      `/v1/devices/${encodeURIComponent(args.name)}/revoke`,
    ),
  text: (result) =>
    `Revoked ${result.name}. Its changes up to #${result.keptSeq} stay in the zone; later ones are refused.`,
});
