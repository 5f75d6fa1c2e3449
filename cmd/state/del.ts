/** `bucky state del <key>`: delete a key (a tombstone every device applies). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import { stateKeyPath } from "../../lib/state/state-key.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: { name: "del", description: "Delete a key" },
  args: {
    key: { type: "positional", required: true, description: "The key to delete" },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<{ key: string; deleted: true } & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(stateKeyPath(args.key), args),
    ),
  text: (result) => [`Deleted ${result.key}`, ...notHeldYetNote(result, "deletion")].join("\n"),
});
