/**
 * Telling an app who is signed in. The app receives `Bucky-User` (the person's name) and
 * `Bucky-User-Role` on every request of a person's session, set by the device that runs
 * it and by nothing else: every `bucky-*` header a client sends (`Bucky_User` too) is
 * dropped on the way in (lib/gateway/forward.ts). A request without them has no person
 * behind it (no session, or a device's).
 *
 * A gateway forwarding to an app on another device does not pass the cookie on (the
 * device could sign in as the person with it): it signs an app-user assertion for that
 * app and device (protocol/user-session.ts), which the device checks as a session (its
 * proof included) before it sets the headers itself. A member device calling another's
 * ingress directly cannot make one up.
 */

import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { signAppUser, verifyAppUser } from "../../protocol/user-session.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { standingOf } from "../sync/membership.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionCheck } from "../users/sessions.ts";

export const USER_HEADER = "bucky-user";
export const ROLE_HEADER = "bucky-user-role";
/** From a gateway to the ingress of the device running the app. */
export const APP_USER_HEADER = "bucky-app-user";
/** How long an assertion is good for: one request's setting out. */
const ASSERTION_TTL_S = 60;

/** Sets the person headers on what an app receives (none for no person). */
export function tellApp(headers: Headers, viewer: Viewer | undefined): void {
  if (viewer?.kind !== "person") return;
  headers.set(USER_HEADER, viewer.user);
  headers.set(ROLE_HEADER, viewer.role);
}

/** The assertion a gateway sends along to `device`'s ingress for `app`, for a person. */
export function appUserAssertion(
  node: NodeContext,
  app: string,
  device: DeviceId,
  viewer: Viewer | undefined,
): Record<string, string> {
  if (viewer?.kind !== "person") return {};
  return {
    [APP_USER_HEADER]: signAppUser(
      {
        zone: node.zoneId,
        app,
        audience: device,
        expiresAt: Math.floor(node.now() / 1000) + ASSERTION_TTL_S,
        session: viewer.session,
      },
      node.zone.deviceKey,
    ),
  };
}

/**
 * The person a gateway's request to this device's ingress for `app` comes with, if any:
 * its assertion checked as a session is (E_PERMISSION when it does not stand).
 */
export async function ingressViewer(
  node: NodeContext,
  people: SessionCheck,
  app: string,
  headers: Headers,
): Promise<Viewer | undefined> {
  const assertion = headers.get(APP_USER_HEADER);
  if (assertion === null) return undefined;
  let checked: Awaited<ReturnType<SessionCheck["viewer"]>>;
  try {
    const { forwardedBy, session } = verifyAppUser(
      assertion,
      node.zoneId,
      node.deviceId,
      app,
      Math.floor(node.now() / 1000),
    );
    checked =
      standingOf(node.membership(), forwardedBy) === "member"
        ? await people.viewer(session)
        : { problem: "it was forwarded by a device no longer in the zone" };
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    checked = { problem: error.message };
  }
  if ("problem" in checked)
    throw new BuckyError("E_PERMISSION", `the person this request came with: ${checked.problem}`);
  return checked.viewer;
}
