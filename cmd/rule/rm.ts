/** `bucky rule rm <id>`: remove an access rule. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "rm", description: "Remove an access rule" },
  args: {
    id: {
      type: "positional",
      required: true,
      description: "The rule's id (see `bucky rule list`)",
    },
  },
  run: (args, context) =>
    requestDaemon<{ id: string; removed: true; heldElsewhere: HeldElsewhere }>(
      context.home,
      "DELETE",
      `/v1/rules/${encodeURIComponent(args.id)}`,
    ),
  text: (result) =>
    [`Removed rule ${result.id}.`, ...notHeldYetNote(result.heldElsewhere, "removal")].join("\n"),
});
