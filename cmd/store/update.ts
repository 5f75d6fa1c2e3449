/** `bucky store update [catalog]`: fetch the zone's catalogs again from their addresses. */
import type { StoreView } from "../../lib/catalog/store-view.ts";
import { requestDaemon } from "../../lib/node/daemon-client.ts";
import { type HeldAnswer, pathAsked } from "../../lib/node/held-wait.ts";
import type { CatalogRecord } from "../../protocol/catalog-record.ts";
import { defineBuckyCommand } from "../command.ts";
import { notHeldYetNote, waitArgs } from "../held-elsewhere.ts";
import { CATALOG_TIMEOUT_MS } from "./add.ts";

export default defineBuckyCommand({
  meta: {
    name: "update",
    description:
      "Fetch the zone's catalogs (or one) again from their addresses, taking newer versions signed by the same publisher",
    examples: ["bucky store update", "bucky store update example-apps"],
  },
  args: {
    catalog: { type: "positional", required: false, description: "Only this catalog" },
    ...waitArgs(),
  },
  async run(args, context) {
    const store = await requestDaemon<StoreView>(context.home, "GET", "/v1/store");
    const names = store.catalogs
      .filter((c) => c.source !== null && (!args.catalog || c.name === args.catalog))
      .map((c) => c.name);
    const catalogs: ({ catalog: string; version: number; updated: boolean } & HeldAnswer)[] = [];
    for (const name of args.catalog && names.length === 0 ? [args.catalog] : names) {
      const { record, updated, heldElsewhere, waited } = await requestDaemon<
        { record: CatalogRecord; updated: boolean } & HeldAnswer
      >(
        context.home,
        "POST",
        pathAsked(`/v1/store/catalogs/${encodeURIComponent(name)}/refresh`, args),
        undefined,
        CATALOG_TIMEOUT_MS,
      );
      catalogs.push({
        catalog: name,
        version: record.version,
        updated,
        heldElsewhere,
        ...(waited === false ? { waited } : {}),
      });
    }
    return { catalogs };
  },
  text: ({ catalogs }, _args, t) =>
    catalogs.length === 0
      ? t.cli.store.noneToUpdate
      : catalogs
          .flatMap((c) => [
            c.updated
              ? t.store.refreshed({ catalog: c.catalog, version: c.version })
              : t.store.upToDate({ catalog: c.catalog }),
            ...(c.updated ? notHeldYetNote(c, `catalog ${c.catalog}`) : []),
          ])
          .join("\n"),
});
