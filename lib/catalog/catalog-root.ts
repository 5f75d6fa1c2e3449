/**
 * The `catalog` root of named data (lib/ndn/roots.ts): what the zone's catalogs keep on
 * this device, so browsing the store needs no network: each catalog's signed index, the
 * icons and descriptions its entries name, and, for a catalog added from a file (which
 * has no address to fetch them from again), the packages too. A removed catalog keeps
 * nothing.
 */
import { entryObjects, verifyCatalog } from "../../protocol/catalog.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import type { RootKind } from "../ndn/roots.ts";
import type { ObjectStore } from "../ndn/store.ts";
import type { StateQueries } from "../store/db.ts";
import { readCatalogRecords } from "./records.ts";

export function catalogRoot(db: StateQueries, store: ObjectStore): RootKind {
  return {
    kind: "catalog",
    *ids() {
      for (const record of readCatalogRecords(db)) {
        yield record.index;
        const bytes = store.readObject(record.index);
        if (!bytes) continue;
        let named: ObjectId[];
        try {
          const catalog = verifyCatalog(new TextDecoder().decode(bytes), record.publisher);
          named = catalog.apps.flatMap((entry) =>
            record.source === null
              ? entryObjects(entry)
              : entryObjects({ ...entry, package: null }),
          );
        } catch (error) {
          // An index that does not verify names nothing worth keeping.
          if (error instanceof ProtocolError) continue;
          throw error;
        }
        yield* named;
      }
    },
  };
}
