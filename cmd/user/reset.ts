/** `bucky user reset <name>`: a new enrollment link; the person's old ways in and sessions stop working. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { Enrolled } from "../../lib/users/accounts.ts";
import { defineBuckyCommand } from "../command.ts";
import { parseDuration } from "../duration.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";
import { enrolledText } from "./enrolled-text.ts";

export default defineBuckyCommand({
  meta: {
    name: "reset",
    description:
      "Give a person a new enrollment link: their passkey or password, and their sessions, stop working everywhere",
    examples: ["bucky user reset ann"],
  },
  args: {
    name: { type: "positional", required: true, description: "The person's name" },
    ttl: {
      type: "string",
      valueHint: "duration",
      description: "How long the link works (default: 7d)",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<Enrolled & HeldAnswer>(
      context.home,
      "POST",
      pathAsked(`/v1/users/${encodeURIComponent(args.name)}/reset`, args),
      args.ttl ? { ttlMs: parseDuration(args.ttl, "--ttl") } : {},
    ),
  text: (result) => [enrolledText(result), ...notHeldYetNote(result, "reset")].join("\n"),
});
