/**
 * This device's own copy of what the zone's catalogs keep (lib/catalog/catalog-root.ts):
 * each index, the icons and descriptions it names, and a file catalog's packages. Stored
 * only on the device that added the catalog, they were gone with it: a catalog added from
 * a file could then be neither listed nor installed from anywhere, though the zone still
 * had it, and no address could give its packages again. So every device takes a copy as
 * soon as it hears of a catalog (lib/ndn/keep-copies.ts), each object checked against its
 * id and within the bound of an app package, the largest object a catalog names.
 */
import { CATALOG_RECORD_PREFIX } from "../../protocol/catalog-record.ts";
import { PACKAGE_LIMIT } from "../apps/package-dir.ts";
import { type KeptCopies, keepCopies } from "../ndn/keep-copies.ts";
import type { NodeContext } from "../node/node-context.ts";
import { catalogRoot } from "./catalog-root.ts";

/** `copied`: after a round that copied some (an index, which origin pins read). */
export function keepCatalogCopies(node: NodeContext, copied?: () => void): KeptCopies {
  const root = catalogRoot(node.db, node.store);
  return keepCopies(node, {
    what: "catalog object",
    prefix: CATALOG_RECORD_PREFIX,
    // The root names a catalog's icons, descriptions and packages only once its index is
    // stored: read lazily, it names them right after the index it yielded is fetched.
    ids: () => root.ids(),
    limit: PACKAGE_LIMIT,
    ...(copied ? { copied } : {}),
  });
}
