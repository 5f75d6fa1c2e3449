/** `bucky state del <key>`: delete a key (a tombstone every device applies). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "del", description: "Delete a key" },
  args: { key: { type: "positional", required: true, description: "The key to delete" } },
  run: (args, context) =>
    requestDaemon<{ key: string; deleted: true }>(context.home, "DELETE", `/v1/state/${args.key}`),
  text: (result) => `Deleted ${result.key}`,
});
