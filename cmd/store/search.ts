/** `bucky store search <words>`: the store's apps whose name, title or summary hold them. */
import type { StoreView } from "../../lib/catalog/store-view.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";
import { storeTable } from "./table.ts";

export default defineBuckyCommand({
  meta: {
    name: "search",
    description: "Find apps in the zone's app store by name, title or what they do",
    examples: ["bucky store search notes", "bucky store search photo editor"],
    variadic: true,
  },
  args: {
    words: { type: "positional", required: true, description: "What to look for" },
  },
  run: (args, context) =>
    requestDaemon<StoreView>(
      context.home,
      "GET",
      `/v1/store?q=${encodeURIComponent([args.words, ...args._.slice(1)].join(" "))}`,
    ),
  text: (store, _args, t) => storeTable(store, t),
});
