/** `bucky store remove <catalog>`: the store no longer lists a catalog's apps (they stay installed). */
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { CatalogRecord } from "../../protocol/catalog-record.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";

export default defineBuckyCommand({
  meta: {
    name: "remove",
    description: "Remove a catalog from the zone's app store (the apps installed from it stay)",
  },
  args: {
    catalog: { type: "positional", required: true, description: "The catalog's name" },
    ...waitArgs(),
  },
  run: (args, context) =>
    requestDaemon<CatalogRecord & HeldAnswer>(
      context.home,
      "DELETE",
      pathAsked(`/v1/store/catalogs/${encodeURIComponent(args.catalog)}`, args),
    ),
  text: (r, _args, t) =>
    [t.store.removed({ catalog: r.name }), ...notHeldYetNote(r, "removal")].join("\n"),
});
