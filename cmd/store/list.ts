/** `bucky store list`: every app the zone's catalogs list, and whether it is installed. */
import type { StoreView } from "../../lib/catalog/store-view.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { defineBuckyCommand } from "../command.ts";
import { storeTable } from "./table.ts";

export default defineBuckyCommand({
  meta: {
    name: "list",
    description: "List the apps of the zone's app store (the catalogs' apps), installed or not",
    examples: ["bucky store list", "bucky store list --catalog example-apps"],
  },
  args: {
    catalog: { type: "string", valueHint: "name", description: "Only this catalog's apps" },
  },
  async run(args, context) {
    const store = await requestDaemon<StoreView>(context.home, "GET", "/v1/store");
    return args.catalog
      ? { ...store, apps: store.apps.filter((a) => a.catalog === args.catalog) }
      : store;
  },
  text: (store, _args, t) => storeTable(store, t),
});
