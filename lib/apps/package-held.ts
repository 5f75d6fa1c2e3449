/**
 * Whether an install (or upgrade) outlives the device it was written on: its spec held by
 * another device is not enough when its package is on this one alone. The device that is
 * to run it fetches the package only when it hears of it, and if this one goes first the
 * app can run nowhere (an upgrade: its version before runs on, Convergence.upgradeWaits).
 * So an install is held elsewhere once a device that may run it, other than this one,
 * holds the whole package too.
 */
import { objectSize, untilHeldByPeers } from "../ndn/held-by-peers.ts";
import type { HeldElsewhere, NodeContext } from "../node/node-context.ts";
import { standingOf } from "../sync/membership.ts";
import type { Installed } from "./admin.ts";

/**
 * "held" once a device other than this one that may run `installed` holds its package
 * whole (asked for as long as a copy of its size may take); one pinned to this device
 * needs no other. An image app's image is not asked after: its layers are objects of
 * their own (lib/images/), not its package.
 */
export async function untilPackageHeldElsewhere(
  node: NodeContext,
  installed: Installed,
): Promise<HeldElsewhere> {
  if (installed.image !== undefined || installed.device === node.deviceName) return "held";
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
  const { heldBy } = await untilHeldByPeers(
    node,
    installed.package,
    objectSize(node.store, installed.package),
    runners,
  );
  if (heldBy.length > 0) return "held";
  node.log.warn(`install of ${installed.app}: its package held by this device alone for now`, {
    package: installed.package,
  });
  return "not yet";
}
