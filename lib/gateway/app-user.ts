/**
 * Telling an app who is signed in. The app receives `Bucky-User` (the person's name) and
 * `Bucky-User-Role` on every request of a person's session, set by the device that runs
 * it and by nothing else: every `bucky-*` header a client sends (`Bucky_User` too) is
 * dropped on the way in (lib/gateway/forward.ts). A request without them has no person
 * behind it (no session, or a device's), or came from another site's page, which the
 * gateway takes no person from the cookie for (lib/gateway/request-origin.ts).
 *
 * A gateway forwarding to an app on another device does not pass the cookie on (the
 * device could sign in as the person with it): it signs an app-user assertion for that
 * app and device (protocol/user-session.ts), which the device checks as a session (its
 * proof included) before it sets the headers itself. A member device calling another's
 * ingress directly cannot make one up.
 *
 * Both ends spare the signatures on a person's every request: the gateway sends the same
 * assertion again while it has most of its life left, and the device remembers the ones
 * that stood by their bytes (lib/node/state-bound-memo.ts). A captured assertion is no
 * more use to anyone than before: it travels inside the pinned TLS between the two
 * devices, and was always good for any request to that app on that device until it
 * expired.
 */

import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { signAppUser, type UserSession, verifyAppUser } from "../../protocol/user-session.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { StateBoundMemo } from "../node/state-bound-memo.ts";
import { standingOf } from "../sync/membership.ts";
import type { Viewer } from "../users/access.ts";
import { describeSessionProblem, type SessionProblem } from "../users/session-problem.ts";
import type { SessionCheck } from "../users/sessions.ts";

export const USER_HEADER = "bucky-user";
export const ROLE_HEADER = "bucky-user-role";
/** From a gateway to the ingress of the device running the app. */
export const APP_USER_HEADER = "bucky-app-user";
/** How long an assertion is good for. */
const ASSERTION_TTL_S = 60;
/** An assertion is sent again while it has at least this long left, on its device's clock. */
const ASSERTION_REUSE_S = ASSERTION_TTL_S / 2;

/** Sets the person headers on what an app receives (none for no person). */
export function tellApp(headers: Headers, viewer: Viewer | undefined): void {
  if (viewer?.kind !== "person") return;
  headers.set(USER_HEADER, viewer.user);
  headers.set(ROLE_HEADER, viewer.role);
}

/**
 * The assertions a gateway sends along to the ingress of the devices running its people's
 * apps, each signed once and sent again while it has most of its life left.
 */
export class AppUserAssertions {
  /** By the session they carry, then by app and device (collected with the session). */
  private readonly signed = new WeakMap<UserSession, Map<string, { token: string; exp: number }>>();

  constructor(private readonly node: NodeContext) {}

  /** The headers to send `device`'s ingress for `app`, for a person (none for no person). */
  headers(app: string, device: DeviceId, viewer: Viewer | undefined): Record<string, string> {
    if (viewer?.kind !== "person") return {};
    const node = this.node;
    const nowS = Math.floor(node.now() / 1000);
    let signed = this.signed.get(viewer.session);
    if (!signed) {
      signed = new Map();
      this.signed.set(viewer.session, signed);
    }
    const key = `${app}\n${device}`;
    // Its life is judged by the device's clock: one that is ahead of this one's (as its own
    // requests said) would find an assertion sent again expired sooner than a fresh one.
    const aheadS = Math.max(0, Math.ceil((node.contacts.clockOffsetMs(device) ?? 0) / 1000));
    let assertion = signed.get(key);
    if (!assertion || assertion.exp - nowS - aheadS < ASSERTION_REUSE_S) {
      const exp = nowS + ASSERTION_TTL_S;
      const fields = { zone: node.zoneId, app, audience: device, expiresAt: exp };
      assertion = {
        token: signAppUser({ ...fields, session: viewer.session }, node.zone.deviceKey),
        exp,
      };
      signed.set(key, assertion);
    }
    return { [APP_USER_HEADER]: assertion.token };
  }
}

/**
 * The people this device's ingress let in, by the assertions they came with: an
 * assertion is checked as a session is (E_PERMISSION when it does not stand), and one
 * that stood is remembered by its bytes and app until it or its session expires.
 */
export class IngressViewers {
  private readonly stood: StateBoundMemo<{ viewer: Viewer } | { problem: SessionProblem }>;

  constructor(
    private readonly node: NodeContext,
    private readonly people: SessionCheck,
  ) {
    this.stood = new StateBoundMemo(node);
  }

  /** The person a gateway's request to this device's ingress for `app` comes with, if any. */
  async viewer(app: string, headers: Headers): Promise<Viewer | undefined> {
    const assertion = headers.get(APP_USER_HEADER);
    if (assertion === null) return undefined;
    return this.viewerOf(app, assertion);
  }

  /**
   * The person `assertion` stands for, to `app`; throws E_PERMISSION when it does not
   * stand. Given at once when it stood before (the app pipe reads on without a turn).
   */
  viewerOf(app: string, assertion: string): Viewer | Promise<Viewer> {
    // The app is part of the key: the same bytes sent for another app are checked anew
    // (and refused: an assertion names its app).
    const checked = this.stood.get(`${app}\n${assertion}`, () => this.check(app, assertion));
    return checked instanceof Promise ? checked.then(viewerOrRefusal) : viewerOrRefusal(checked);
  }

  private async check(app: string, assertion: string) {
    const nowS = Math.floor(this.node.now() / 1000);
    let verified: ReturnType<typeof verifyAppUser>;
    try {
      verified = verifyAppUser(assertion, this.node.zoneId, this.node.deviceId, app, nowS);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      return { answer: { problem: { code: "invalid", detail: error.message } as const } };
    }
    const { forwardedBy, session } = verified;
    if (standingOf(this.node.membership(), forwardedBy) !== "member")
      return { answer: { problem: { code: "forwarder-gone" } as const } };
    const answer = await this.people.viewer(session);
    if ("problem" in answer) return { answer };
    const expiresAt = Math.min(session.claims.expiresAt, verified.expiresAt);
    return { answer: { viewer: answer.viewer }, keepUntilMs: expiresAt * 1000 };
  }
}

function viewerOrRefusal(checked: { viewer: Viewer } | { problem: SessionProblem }): Viewer {
  if ("problem" in checked)
    throw new BuckyError(
      "E_PERMISSION",
      `the person this request came with: ${describeSessionProblem(checked.problem)}`,
    );
  return checked.viewer;
}
