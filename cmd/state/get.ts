/** `bucky state get <key>`: one value of the zone state. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { Entry } from "../../lib/state/kv.ts";
import { stateKeyPath } from "../../lib/state/state-key.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "get", description: "Print the value of a key (as JSON)" },
  args: {
    key: { type: "positional", required: true, description: "The key, like apps/music/config" },
  },
  run: (args, context) => requestDaemon<Entry>(context.home, "GET", stateKeyPath(args.key)),
  text: (entry) => JSON.stringify(entry.value, null, 2),
});
