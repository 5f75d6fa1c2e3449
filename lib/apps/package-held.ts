/**
 * Whether an install (or upgrade) outlives the device it was written on: its spec held by
 * another device is not enough when its package is on this one alone. The device that is
 * to run it fetches the package only when it hears of it, and if this one goes first the
 * app can run nowhere (an upgrade: its version before runs on, Convergence.upgradeWaits).
 * So an install is held elsewhere once a device that may run it, other than this one,
 * holds the whole package too.
 */
import { type ObjectId, parseObjectId } from "../../protocol/ndn.ts";
import { blobsOf, ImageStore } from "../images/image-store.ts";
import { objectSize, untilHeldByPeers } from "../ndn/held-by-peers.ts";
import type { HeldElsewhere, NodeContext } from "../node/node-context.ts";
import { standingOf } from "../sync/membership.ts";
import type { Installed } from "./admin.ts";

/**
 * "held" once a device other than this one that may run `installed` holds its package
 * whole (asked for as long as a copy of its size may take); one pinned to this device
 * needs no other. An image app's package is its image record, and its image is the blobs
 * the record names (manifest, config, layers: lib/images/): each must be held there too,
 * for other devices fetch images only from their peers, never from a registry (an image
 * imported from a file has none).
 */
export async function untilPackageHeldElsewhere(
  node: NodeContext,
  installed: Installed,
): Promise<HeldElsewhere> {
  if (installed.device === node.deviceName) return "held";
  const membership = node.membership();
  const runners = new Set(
    installed.device === "any"
      ? [...membership.byId.values()]
          .filter(
            (member) =>
              member.name !== node.deviceName && standingOf(membership, member.id) === "member",
          )
          .map((member) => member.name)
      : [installed.device],
  );
  const objects = [installed.package, ...imageObjects(node, installed)];
  // Held by a device that holds them all, asked of all at once: each answer names devices.
  const answers = await Promise.all(
    objects.map(
      async (id) => (await untilHeldByPeers(node, id, objectSize(node.store, id), runners)).heldBy,
    ),
  );
  const everywhere = answers.reduce((held, by) => held.filter((device) => by.includes(device)));
  if (everywhere.length > 0) return "held";
  node.log.warn(
    `install of ${installed.app}: its ${installed.image === undefined ? "package" : "image"} held by this device alone for now`,
    { package: installed.package },
  );
  return "not yet";
}

/**
 * The blobs of an image app's image that this device holds, as its record names them (of
 * each platform it holds: the one it pulled or imported); none for another app.
 */
function imageObjects(node: NodeContext, installed: Installed): ObjectId[] {
  if (installed.image === undefined) return [];
  const images = new ImageStore(node.store, node.zone.paths.imagesDir);
  const record = images.readRecord(installed.package);
  const held = (record?.images ?? []).filter((image) => images.holds(image));
  return held.flatMap((image) =>
    blobsOf(image).flatMap((blob) => parseObjectId(blob.object)?.id ?? []),
  );
}
