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
import { otherMemberNames } from "../sync/membership.ts";
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
  const runners =
    installed.device === "any"
      ? otherMemberNames(node.membership(), node.deviceName)
      : new Set([installed.device]);
  const heldBy = async (id: ObjectId, among: ReadonlySet<string>) =>
    (await untilHeldByPeers(node, id, objectSize(node.store, id), among)).heldBy;
  const holders = await heldBy(installed.package, runners);
  if (holders.length > 0 && (await holdsAnImage(node, installed, new Set(holders), heldBy)))
    return "held";
  node.log.warn(
    `install of ${installed.app}: its ${installed.image === undefined ? "package" : "image"} held by this device alone for now`,
    { package: installed.package },
  );
  return "not yet";
}

/**
 * Whether one of `holders` (devices that hold the app's package) holds the whole image of
 * one of the platforms this device holds (the one it pulled or imported, or each platform
 * of the zone's it pulled: each device fetches only its own); true for an app of no image.
 * Each platform's blobs are asked of the first holder to hold its manifest, all at once.
 */
async function holdsAnImage(
  node: NodeContext,
  installed: Installed,
  holders: ReadonlySet<string>,
  heldBy: (id: ObjectId, among: ReadonlySet<string>) => Promise<readonly string[]>,
): Promise<boolean> {
  if (installed.image === undefined) return true;
  const images = new ImageStore(node.store, node.zone.paths.imagesDir);
  const record = images.readRecord(installed.package);
  const platforms = (record?.images ?? []).filter((image) => images.holds(image));
  // None held here: nothing of it is on this device alone.
  if (platforms.length === 0) return true;
  const answers = await Promise.all(
    platforms.map(async (image) => {
      const [manifest, ...rest] = blobsOf(image).flatMap(
        (blob) => parseObjectId(blob.object)?.id ?? [],
      );
      if (!manifest) return false;
      const [device] = await heldBy(manifest, holders);
      if (!device) return false;
      const one = new Set([device]);
      const held = await Promise.all(rest.map(async (id) => (await heldBy(id, one)).length > 0));
      return held.every(Boolean);
    }),
  );
  return answers.some(Boolean);
}
