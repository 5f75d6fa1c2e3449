/**
 * Whether a catalog added (or updated) outlives the device that added it. Its record held
 * by another device is not enough: the index, icons and descriptions (and a file
 * catalog's packages) were stored on this device alone, and the others take them only from
 * their peers, never from the catalog's address. With this device gone first, the catalog
 * was listed everywhere with nothing to show or install, until its publisher released a
 * new version. So it is held elsewhere once another device holds every one of them too.
 */

import { entryObjects } from "../../protocol/catalog.ts";
import type { CatalogRecord } from "../../protocol/catalog-record.ts";
import type { ObjectId } from "../../protocol/ndn.ts";
import { BuckyError } from "../errors.ts";
import { objectSize, untilHeldByPeers } from "../ndn/held-by-peers.ts";
import type { HeldElsewhere, NodeContext } from "../node/node-context.ts";
import { otherMemberNames } from "../sync/membership.ts";
import { type CatalogNode, loadCatalog } from "./catalogs.ts";

/**
 * "held" once another member holds the record and every object of the catalog this device
 * stored; asked for as long as their copies may take, each at once.
 */
export async function untilCatalogHeldElsewhere(
  node: NodeContext,
  catalogs: CatalogNode,
  record: CatalogRecord,
): Promise<HeldElsewhere> {
  const what = `catalog ${record.name}`;
  const recordHeld = await node.untilHeldElsewhere(what);
  if (recordHeld !== "held") return recordHeld;
  let catalog: Awaited<ReturnType<typeof loadCatalog>>;
  try {
    catalog = await loadCatalog(catalogs, record);
  } catch (error) {
    // Its index not whole here (an update another device stored first): not known held.
    if (!(error instanceof BuckyError)) throw error;
    node.log.warn(`${what}: not read here, not known held elsewhere`, { error: error.message });
    return "not yet";
  }
  // A catalog at an address gives its packages again at each install; one from a file does not.
  const objects: ObjectId[] = [
    record.index,
    ...catalog.apps.flatMap((entry) =>
      entryObjects(record.source === null ? entry : { ...entry, package: null }),
    ),
  ];
  const others = otherMemberNames(node.membership(), node.deviceName);
  const answers = await Promise.all(
    [...new Set(objects)].map(async (id) => ({
      id,
      held: (await untilHeldByPeers(node, id, objectSize(node.store, id), others)).heldBy,
    })),
  );
  const notHeld = answers.filter((answer) => answer.held.length === 0).map((answer) => answer.id);
  if (notHeld.length === 0) return "held";
  node.log.warn(`${what}: held by this device alone for now`, {
    objects: notHeld.length,
    first: notHeld[0],
  });
  return "not yet";
}
