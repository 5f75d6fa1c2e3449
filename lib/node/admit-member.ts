/**
 * Who may call a device's peer API: a request authenticated (signed, or tagged with the
 * key this device shares with its sender), fresh and meant for this device, by a member in
 * good standing. A revoked or quarantined device, or one this device does not know, is
 * refused (a revoked one with its revocation); so is a member whose clock is too far from this one's (E_CLOCK). Shared by the router's middleware and the apps' ingress, which is served before
 * the router (lib/node/peer-ingress.ts).
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { checkRequest, type RequestToSign } from "../../protocol/request-auth.ts";
import { BuckyError } from "../errors.ts";
import { standingOf } from "../sync/membership.ts";
import { clashLostBy, nameLostError } from "../zone/name-clashes.ts";
import { revocationIn, revokedRefusal } from "../zone/revoked-here.ts";
import type { NodeContext } from "./node-context.ts";

/**
 * The member that made `request` (method, path and query as received, and the body the
 * authentication covers), or a BuckyError (E_PERMISSION) saying why not. `named` hears the
 * caller's name as soon as it is known to have made the request (for the refusal's log
 * line), member or not.
 */
export function admitMember(
  node: NodeContext,
  request: Omit<RequestToSign, "audience">,
  headers: { get(name: string): string | null },
  named?: (peer: string) => void,
  /**
   * Whether a quarantined device is let through too (its pull, answered with its own
   * proof alone: lib/node/peer-api.ts), so that it learns what every peer holds of it.
   */
  quarantinedToo = false,
): DeviceId {
  const membership = node.membership();
  const check = checkRequest(
    { ...request, audience: node.deviceId },
    headers,
    node.now(),
    // A member's key is kept; anyone else's is made for this one check (and then
    // refused below, if its tag even checks).
    (device) => node.zone.requestKeys.from(device, standingOf(membership, device) === "member"),
  );
  if (!check.ok) {
    const skewed = check.skewed;
    if (skewed && standingOf(membership, skewed.device) === "member") {
      named?.(membership.byId.get(skewed.device)?.name ?? skewed.device);
      throw clockRefusal(node, skewed.device, skewed.offsetMs);
    }
    throw new BuckyError("E_PERMISSION", `request refused: ${check.reason}`);
  }
  const standing = standingOf(membership, check.device);
  named?.(membership.byId.get(check.device)?.name ?? check.device);
  if (quarantinedToo && standing === "quarantined") return check.device;
  if (standing !== "member") {
    // Revoked (under a name taken again since, it is unknown): told so with the owner's
    // word, for it to stop (lib/zone/revoked-here.ts).
    const revocation =
      standing === "revoked" || standing === "unknown"
        ? revocationIn(node.db, node.zoneId, check.device)
        : undefined;
    if (revocation) throw revokedRefusal(revocation);
    const clash =
      standing === "unknown"
        ? clashLostBy(node.db, node.zoneId, membership, check.device)
        : undefined;
    if (clash) throw nameLostError(clash);
    throw new BuckyError(
      "E_PERMISSION",
      standing === "unknown"
        ? "this device does not know you as a member of the zone (yet)"
        : `you are ${standing} in this zone`,
    );
  }
  node.contacts.calledBy(check.device, check.timeMs, node.now());
  return check.device;
}

/**
 * A member's request refused for its time alone: its clock and this one's are over the
 * window apart. Said to it in words it can act on (E_CLOCK), and, when its clock is the
 * one ahead, to the zone (this device's facts), since nothing it writes is taken here.
 */
function clockRefusal(node: NodeContext, device: DeviceId, offsetMs: number): BuckyError {
  const now = node.now();
  if (offsetMs > 0) node.clocksAhead.refused(device, offsetMs, now);
  return clockError(node.deviceName, offsetMs);
}

/** A request refused because its sender's clock is `offsetMs` off this device's (`self`). */
export function clockError(self: string, offsetMs: number): BuckyError {
  const seconds = Math.round(Math.abs(offsetMs) / 1000);
  return new BuckyError(
    "E_CLOCK",
    `request refused: your clock is ${seconds} s ${offsetMs > 0 ? "ahead of" : "behind"} ${self}'s`,
    "Set the right time on whichever of the two devices is wrong: turn on network time (`timedatectl set-ntp true`).",
  );
}
