/** `bucky user add <name> [--role admin|member|child]`: a person of the zone, and their enrollment link. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import type { Enrolled } from "../../lib/users/accounts.ts";
import { defineBuckyCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";
import { enrolledText } from "./enrolled-text.ts";

export default defineBuckyCommand({
  meta: {
    name: "add",
    description: "Add a person to the zone: prints the link they set up their way in with",
    examples: [
      "bucky user add ann",
      "bucky user add kid --role child",
      "bucky user add bob --role admin --ttl 1d",
    ],
  },
  args: {
    name: {
      type: "positional",
      required: true,
      description: "Their name: lowercase letters, digits, hyphens",
    },
    role: {
      type: "string",
      valueHint: "admin|member|child",
      description: "What they may do (default: member)",
    },
    ttl: {
      type: "string",
      valueHint: "duration",
      description: "How long the link works (default: 7d)",
    },
  },
  run: (args, context) =>
    requestDaemon<Enrolled & { heldElsewhere: HeldElsewhere }>(context.home, "POST", "/v1/users", {
      name: args.name,
      ...(args.role ? { role: args.role } : {}),
      ...(args.ttl ? { ttlMs: parseDuration(args.ttl, "--ttl") } : {}),
    }),
  text: (result) =>
    [enrolledText(result), ...notHeldYetNote(result.heldElsewhere, "addition")].join("\n"),
});
