/** `bucky user remove <name>`: the person is no longer of the zone; their sessions end on every gateway. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "remove",
    description: "Remove a person from the zone: their sessions end on every gateway",
    examples: ["bucky user remove ann"],
  },
  args: {
    name: { type: "positional", required: true, description: "The person's name" },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<{ user: string; removed: true } & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(`/v1/users/${encodeURIComponent(args.name)}`, args),
    ),
  text: (result) =>
    [
      `${result.user} is removed: their sessions end on every gateway of the zone as it hears of it.`,
      ...notHeldYetNote(result, "removal"),
    ].join("\n"),
});
