/** `bucky state list [prefix]`: the keys of the zone state and their values. */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import type { Entry } from "../../lib/state/kv.ts";
import { defineBuckyCommand } from "../command.ts";

export default defineBuckyCommand({
  meta: { name: "list", description: "List keys (under a prefix) with their values" },
  args: {
    prefix: {
      type: "positional",
      required: false,
      description: "Only keys starting with this, like apps/",
    },
  },
  run: (args, context) =>
    requestDaemon<{ entries: Entry[] }>(
      context.home,
      "GET",
      `/v1/state?prefix=${encodeURIComponent(args.prefix ?? "")}`,
    ),
  text: ({ entries }) =>
    entries.length === 0
      ? "(no keys)"
      : entries.map((entry) => `${entry.key} = ${JSON.stringify(entry.value)}`).join("\n"),
});
