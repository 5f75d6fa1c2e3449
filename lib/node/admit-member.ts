/**
 * Who may call a device's peer API: a request authenticated (signed, or tagged with the
 * key this device shares with its sender), fresh and meant for this device, by a member in
 * good standing. A revoked or quarantined device, or one this device does not know, is
 * refused. Shared by the router's middleware and the apps' ingress, which is served before
 * the router (lib/node/peer-ingress.ts).
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { checkRequest, type RequestToSign } from "../../protocol/request-auth.ts";
import { BuckyError } from "../errors.ts";
import { standingOf } from "../sync/membership.ts";
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
  if (!check.ok) throw new BuckyError("E_PERMISSION", `request refused: ${check.reason}`);
  const standing = standingOf(membership, check.device);
  named?.(membership.byId.get(check.device)?.name ?? check.device);
  if (standing !== "member") {
    throw new BuckyError(
      "E_PERMISSION",
      standing === "unknown"
        ? "this device does not know you as a member of the zone (yet)"
        : `you are ${standing} in this zone`,
    );
  }
  const now = node.now();
  node.contacts.heardFrom(check.device, now, check.timeMs - now);
  return check.device;
}
