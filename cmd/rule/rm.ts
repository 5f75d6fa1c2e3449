/** `bucky rule rm <id>`: remove an access rule. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "rm", description: "Remove an access rule" },
  args: {
    id: {
      type: "positional",
      required: true,
      description: "The rule's id (see `bucky rule list`)",
    },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<{ id: string; removed: true } & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(`/v1/rules/${encodeURIComponent(args.id)}`, args),
    ),
  text: (result) => [`Removed rule ${result.id}.`, ...notHeldYetNote(result, "removal")].join("\n"),
});
