/**
 * A catalog's version never goes back, zone-wide. Each device refuses an older version
 * when it adds or updates one (lib/catalog/catalogs.ts), but only against the version it
 * knows: a device that had not heard of version 3 yet (away, or its peers away) takes
 * version 2 over its version 1, and once they meet the later write wins (the zone state
 * is last-writer-wins per key), which is version 2. So a device that knew the newer
 * version of the same publisher, seeing it replaced by an older one, writes the newer one
 * back: every device then converges on the newest version any of them had. Only a
 * record whose signed index this device holds is written back (a record is a pointer any
 * member may write: a stolen device key must not make a bogus version stick). A removal
 * (the owner's "remove, then add what I choose") and another publisher's catalog
 * (possible only after a removal) are left as they are.
 */

import {
  CATALOG_RECORD_PREFIX,
  type CatalogRecord,
  catalogRecordKey,
  encodeCatalogRecord,
} from "../../protocol/catalog-record.ts";
import type { NodeContext } from "../node/node-context.ts";
import { heldCatalog, readCatalogRecords } from "./records.ts";

export interface KeptForward {
  stop(): void;
}

export function keepCatalogVersionsForward(node: NodeContext): KeptForward {
  const byName = (records: readonly CatalogRecord[]) => new Map(records.map((r) => [r.name, r]));
  /** The newest record of each catalog this device has seen. */
  let known = byName(readCatalogRecords(node.db));

  const stops = [
    node.onChange((changesets) => {
      const ops = changesets.flatMap((c) =>
        c.ops.filter((op) => op.key.startsWith(CATALOG_RECORD_PREFIX)),
      );
      if (ops.length === 0) return;
      const removed = new Set(ops.filter((op) => op.value === null).map((op) => op.key));
      const now = byName(readCatalogRecords(node.db));
      const takenBack: CatalogRecord[] = [];
      for (const [name, record] of now) {
        const before = known.get(name);
        if (
          before &&
          !removed.has(catalogRecordKey(name)) &&
          before.publisher === record.publisher &&
          before.version > record.version &&
          heldCatalog(node.store, before) !== undefined
        ) {
          takenBack.push(before);
          now.set(name, before);
        }
      }
      known = now;
      for (const newer of takenBack) {
        node.log.warn("catalog version taken back: the newer one is written again", {
          catalog: newer.name,
          version: newer.version,
        });
        node.write([{ key: catalogRecordKey(newer.name), value: encodeCatalogRecord(newer) }]);
      }
    }),
    // A checkpoint replaced the state: what it holds is what the zone had.
    node.onRebase(() => {
      known = byName(readCatalogRecords(node.db));
    }),
  ];
  return {
    stop() {
      for (const stop of stops) stop();
    },
  };
}
