/**
 * The roots of named data (lib/ndn/roots.ts) that kinds of things above the store bring:
 * container images and the store's catalogs. The daemon's collector keeps what they
 * name, and `bucky rm` says they keep it: both from this one list.
 */
import { catalogRoot } from "../catalog/catalog-root.ts";
import type { HomePaths } from "../home.ts";
import { imageRoot } from "../images/image-roots.ts";
import { ImageStore } from "../images/image-store.ts";
import type { RootKind } from "../ndn/roots.ts";
import type { ObjectStore } from "../ndn/store.ts";
import type { StateQueries } from "../store/db.ts";

export function extraRoots(db: StateQueries, paths: HomePaths, store: ObjectStore): RootKind[] {
  return [
    // Image apps' layers: their records name what keeps them.
    imageRoot(db, new ImageStore(store, paths.imagesDir)),
    // The catalogs: their indexes, icons, descriptions (and a file's packages).
    catalogRoot(db, store),
  ];
}
