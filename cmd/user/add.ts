/** `bucky user add <name> [--role admin|member|child]`: a person of the zone, and their enrollment link. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { Enrolled } from "../../lib/users/accounts.ts";
import { defineBuckyCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";
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
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<Enrolled & HeldAnswer>(context.home, "POST", pathAsked("/v1/users", args), {
      name: args.name,
      ...(args.role ? { role: args.role } : {}),
      ...(args.ttl ? { ttlMs: parseDuration(args.ttl, "--ttl") } : {}),
    }),
  text: (result) => [enrolledText(result), ...notHeldYetNote(result, "addition")].join("\n"),
});
