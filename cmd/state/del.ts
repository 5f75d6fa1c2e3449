/** `bucky state del <key>`: delete a key (a tombstone every device applies). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { HeldElsewhere } from "../../lib/node/node-context.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "del", description: "Delete a key" },
  args: { key: { type: "positional", required: true, description: "The key to delete" } },
  run: (args, context) =>
    requestDaemon<{ key: string; deleted: true; heldElsewhere: HeldElsewhere }>(
      context.home,
      "DELETE",
      `/v1/state/${args.key}`,
    ),
  text: (result) =>
    [`Deleted ${result.key}`, ...notHeldYetNote(result.heldElsewhere, "deletion")].join("\n"),
});
