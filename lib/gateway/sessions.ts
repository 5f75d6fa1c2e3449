/**
 * Login links and session cookies. A link is a one-time login token for one gateway:
 * that gateway alone accepts it (unexpired, never used before, which it alone remembers),
 * so a link opens at most one session in the zone, partitions or not (opened at another
 * gateway, that one asks it: lib/gateway/fellow-sign-in.ts). Made on a device
 * holding the owner key, the owner key signs it, and it opens a session of the owner
 * (lib/users/sessions.ts); made on any other device, that device signs it, and it opens
 * the device's session, which is no person's. The session cookie, signed by the gateway,
 * works on every gateway while that gateway and the device whose link opened it are
 * members. Zone-only apps then need that cookie; people sign in too (lib/users).
 */
import { randomBytes } from "node:crypto";
import { eq, lt } from "drizzle-orm";
import { OWNER_USER } from "../../protocol/accounts.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { DeviceId } from "../../protocol/ids.ts";
import { decodeJws } from "../../protocol/jws.ts";
import {
  NONCE_BYTES,
  signLoginToken,
  signSession,
  verifyLoginToken,
  verifySession,
} from "../../protocol/session.ts";
import {
  OWNER_LOGIN_TYPE,
  signOwnerLogin,
  USER_SESSION_TYPE,
  verifyOwnerLogin,
  verifyUserSession,
} from "../../protocol/user-session.ts";
import { placementCandidates } from "../apps/status.ts";
import { BuckyError } from "../errors.ts";
import type { HeldElsewhere, NodeContext } from "../node/node-context.ts";
import { usedLogins } from "../store/schema.ts";
import { standingOf } from "../sync/membership.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionProblem } from "../users/session-problem.ts";
import {
  newClaims,
  type SessionCheck,
  signSession as signPersonSession,
} from "../users/sessions.ts";
import {
  deviceSessionId,
  isSignedOut,
  personSessionId,
  recordSignOut,
  recordSignOutEverywhere,
  SIGNED_OUT,
} from "../users/signouts.ts";
import { type GatewayConfig, gatewayBase, readGateway } from "./config.ts";
import { LOGIN_PATH } from "./routing.ts";

/**
 * How long past its expiry a used login link's nonce is kept. Forgotten as soon as it
 * expired by this device's clock, a clock run ahead (then set right) forgot links that
 * were still good, and a used one opened a second session.
 */
const USED_LINKS_KEPT_S = 30 * 24 * 3600;

export const SESSION_COOKIE = "bucky_session";
export const SESSION_TTL_S = 30 * 24 * 3600;
export const DEFAULT_LINK_TTL_MS = 3600_000;

export interface LoginLink {
  readonly url: string;
  readonly expiresAt: string;
  /** Whom it signs in: the owner (made with the owner key), or this device. */
  readonly signsInAs: "owner" | "device";
  /**
   * The gateway it goes to, when none of the zone's is heard alive: the link waits for it
   * (only that gateway takes it), and the person is told so rather than given a dead link.
   */
  readonly offlineGateway: string | null;
}

/** A one-time link to a gateway of the zone (this device if it is one) that opens a session. */
export function createLoginLink(node: NodeContext, ttlMs: number, next?: string): LoginLink {
  if (!(ttlMs > 0 && ttlMs <= 7 * 24 * 3600_000)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      "a login link lasts from a second to 7 days",
      "For example: --ttl 1h",
    );
  }
  if (next !== undefined && !isSameOriginPath(next))
    throw new BuckyError("E_INVALID_INPUT", `${JSON.stringify(next)} is not a path on a gateway`);
  const gateway = findGateway(node);
  // By the gateway's clock, which judges it: this one's may be off (an hour behind, it made
  // links expired before they were opened), as the gateway's own requests here said.
  const gatewayAheadMs = gateway.id === node.deviceId ? 0 : node.clockAheadOf(gateway.id);
  const expiresAt = Math.floor((node.now() + gatewayAheadMs + ttlMs) / 1000);
  const nonce = new Uint8Array(randomBytes(NONCE_BYTES));
  const owner = node.zone.holdsOwnerKey;
  const token = owner
    ? signOwnerLogin(
        { zone: node.zoneId, gateway: gateway.id, device: node.deviceId, nonce, expiresAt },
        node.ownerKey(),
      ).jws
    : signLoginToken(
        { zone: node.zoneId, gateway: gateway.id, nonce, expiresAt },
        node.zone.deviceKey,
      ).jws;
  node.log.info("login link created", {
    gateway: gateway.name,
    as: owner ? OWNER_USER : "device",
    expiresAt: new Date(expiresAt * 1000).toISOString(),
  });
  return {
    url: `${gatewayBase(gateway.config, gateway.address)}${LOGIN_PATH}?token=${token}${next ? `&next=${encodeURIComponent(next)}` : ""}`,
    expiresAt: new Date(expiresAt * 1000).toISOString(),
    signsInAs: owner ? "owner" : "device",
    offlineGateway: gateway.live ? null : gateway.name,
  };
}

export interface FoundGateway {
  readonly id: DeviceId;
  readonly name: string;
  readonly config: GatewayConfig;
  readonly address?: string;
  /** Heard alive lately (this device, when it is the gateway). */
  readonly live?: boolean;
}

/**
 * The gateway a link made here goes to: this device if it is one, else one it can reach,
 * the first by name of those heard alive lately (any, when none is). A gateway that died
 * stays in the zone state: links made for it, before, went to it for as long as it was
 * first by name, while another gateway answered.
 */
export function findGateway(node: NodeContext): FoundGateway {
  const own = readGateway(node.db, node.deviceName);
  if (own) return { id: node.deviceId, name: node.deviceName, config: own, live: true };
  const found = gatewaysOf(node);
  const live = new Set(placementCandidates(node, node.liveWindowMs).live.map((c) => c.id));
  const alive = found.find((candidate) => live.has(candidate.id));
  if (alive) return { ...alive, live: true };
  const gateway = found[0];
  if (gateway) return { ...gateway, live: false };
  throw new BuckyError(
    "E_NOT_FOUND",
    "the zone has no gateway yet",
    "Make one with `bucky gateway enable` on a device people can reach.",
  );
}

/**
 * The zone's gateways this device can give an address of: itself if it is one, and every
 * member it knows a peer address of, by name.
 */
export function gatewaysOf(node: NodeContext): FoundGateway[] {
  const found: FoundGateway[] = [];
  for (const member of node.membership().byName.values()) {
    if (standingOf(node.membership(), member.id) !== "member") continue;
    const config = readGateway(node.db, member.name);
    if (!config) continue;
    if (member.id === node.deviceId) {
      found.push({ id: member.id, name: member.name, config });
      continue;
    }
    const peer = node.peers().find((p) => p.id === member.id);
    if (peer)
      found.push({
        id: member.id,
        name: member.name,
        config,
        address: new URL(peer.addresses[0] as string).hostname,
      });
  }
  return found;
}

/**
 * Whether `next` (where a login link leads once used) is a path on the gateway that takes
 * it, and only that: printable ASCII from one `/`, with no `\` (which a browser reads as
 * `/`: `/\evil.example` is `//evil.example`, another site) and nothing a header cannot
 * carry.
 */
export function isSameOriginPath(next: string): boolean {
  return next.length <= MAX_NEXT_LENGTH && /^\/(?!\/)[!-[\]-~]*$/.test(next);
}

const MAX_NEXT_LENGTH = 2048;

/** Accepts a login token once, at the gateway it names; returns the session cookie's value. */
export function acceptLogin(node: NodeContext, token: string): { cookie: string } {
  const nowS = Math.floor(node.now() / 1000);
  const refused = (error: unknown): never => {
    if (error instanceof ProtocolError)
      throw new BuckyError(
        "E_PERMISSION",
        `this login link does not work: ${error.message}`,
        "Make a new one with `bucky login-link`.",
      );
    throw error;
  };
  let owner = false;
  let login: { issuer: DeviceId; nonce: string; expiresAt: number };
  try {
    owner = decodeJws(token).header.typ === OWNER_LOGIN_TYPE;
    if (owner) {
      const link = verifyOwnerLogin(token, node.zoneId, node.deviceId, nowS);
      login = { issuer: link.device, nonce: link.nonce, expiresAt: link.expiresAt };
    } else {
      login = verifyLoginToken(token, node.zoneId, node.deviceId, nowS);
    }
  } catch (error) {
    return refused(error);
  }
  if (standingOf(node.membership(), login.issuer) !== "member") {
    throw new BuckyError(
      "E_PERMISSION",
      "this login link was made by a device that is no longer in the zone",
    );
  }
  node.db
    .delete(usedLogins)
    .where(lt(usedLogins.expiresAt, nowS - USED_LINKS_KEPT_S))
    .run();
  if (node.db.select().from(usedLogins).where(eq(usedLogins.nonce, login.nonce)).get()) {
    throw new BuckyError(
      "E_PERMISSION",
      "this login link was already used",
      "Each link works once; make a new one with `bucky login-link`.",
    );
  }
  node.db.insert(usedLogins).values({ nonce: login.nonce, expiresAt: login.expiresAt }).run();
  const device = node.membership().byId.get(login.issuer)?.name;
  if (owner) {
    const cookie = signPersonSession(node, newClaims(node, OWNER_USER), {
      k: "owner",
      link: token,
    });
    node.log.info("session opened", { user: OWNER_USER, device });
    return { cookie };
  }
  const cookie = signSession(
    {
      zone: node.zoneId,
      device: login.issuer,
      nonce: new Uint8Array(randomBytes(NONCE_BYTES)),
      expiresAt: nowS + SESSION_TTL_S,
    },
    node.zone.deviceKey,
  );
  node.log.info("session opened", { device });
  return { cookie };
}

/**
 * Signs out the sessions a request's cookies carry (every one that opens a session: see
 * sessionCookies), on every gateway of the zone (as each hears of it), and says whether
 * another device holds the sign-out. Cookies that open no session (none, expired, forged,
 * already signed out) are left alone: nothing is written for them (undefined).
 */
export async function signOut(
  node: NodeContext,
  cookieHeader: string | null,
  people: SessionCheck,
  everywhere = false,
): Promise<HeldElsewhere | undefined> {
  let signedOut: string | undefined;
  for (const value of sessionCookies(cookieHeader)) {
    const checked = await checkSessionCookie(node, value, people);
    if (!("viewer" in checked)) continue;
    // Everywhere: every session of the person, this one among them (a device's session
    // is no one's, and has no others).
    if (everywhere && checked.viewer.kind === "person") {
      recordSignOutEverywhere(node, checked.viewer.user);
      signedOut = `sign-out of ${checked.viewer.user} everywhere`;
    } else {
      recordSignOut(node, checked.sessionId, checked.expiresAt);
      signedOut = `sign-out of session ${checked.sessionId.slice(0, 12)}`;
    }
  }
  // Said done only once it outlives this gateway (within a bound: a peer may be away).
  return signedOut === undefined ? undefined : node.untilHeldElsewhere(signedOut);
}

/** What a request without a session is told. */
export const NOT_SIGNED_IN: { readonly problem: SessionProblem } = {
  problem: { code: "not-signed-in" },
};

/** The most session cookies of one request looked at. */
const MAX_SESSION_COOKIES = 4;

/**
 * The values of the session cookies a request carries, in its order, at most
 * MAX_SESSION_COOKIES. Usually one; more when an app's script set another for the zone's
 * domain (document.cookie, which no gateway sees): with a longer path the browser sends it
 * first, so a gateway that read only the first was told junk, and the person was signed
 * out of the panel until they cleared their cookies. Each is checked, and the first that
 * opens a session counts.
 */
export function sessionCookies(cookieHeader: string | null): string[] {
  if (!cookieHeader?.includes(SESSION_COOKIE)) return [];
  const values: string[] = [];
  for (const part of cookieHeader.split(";")) {
    const cookie = part.trim();
    if (!cookie.startsWith(`${SESSION_COOKIE}=`)) continue;
    const value = cookie.slice(SESSION_COOKIE.length + 1);
    if (value && !values.includes(value)) values.push(value);
    if (values.length === MAX_SESSION_COOKIES) break;
  }
  return values;
}

export type CheckedSession =
  | { viewer: Viewer; expiresAt: number; sessionId: string; cookie: string }
  | { problem: SessionProblem };

/**
 * Who is behind the first of a request's session cookies that opens a session
 * (sessionCookies), with that cookie; or why no one is (the first cookie's reason).
 */
export function checkSession(
  node: NodeContext,
  cookieHeader: string | null,
  people: SessionCheck,
): Promise<CheckedSession> {
  return firstThatOpens(sessionCookies(cookieHeader), (value) =>
    checkSessionCookie(node, value, people),
  );
}

/**
 * The answer of the first of `values` whose `check` finds a session, or the first's reason
 * why none does (NOT_SIGNED_IN for no values): the one way several session cookies count.
 * Sessions of different people (or devices) are none: a page of an app can set a cookie
 * of its own for the zone's domain (document.cookie) with a session of its author's, and
 * with a longer path the browser sends it first, so the gateway took the person for its
 * author, and what they did went to the author's account.
 */
export async function firstThatOpens<A extends { viewer: Viewer } | { problem: SessionProblem }>(
  values: readonly string[],
  check: (value: string) => A | Promise<A>,
): Promise<A | { problem: SessionProblem }> {
  let problem: A | undefined;
  let opened: { answer: A; who: string } | undefined;
  for (const value of values) {
    const answer = await check(value);
    if (!("viewer" in answer)) problem ??= answer;
    else if (!opened) opened = { answer, who: whoIs(answer.viewer as Viewer) };
    else if (whoIs(answer.viewer as Viewer) !== opened.who) return SEVERAL_PEOPLE;
  }
  return opened?.answer ?? problem ?? NOT_SIGNED_IN;
}

const SEVERAL_PEOPLE = { problem: { code: "several-people" } } as const;

/** Whom a viewer is, as one string: a person by name, a device by id. */
function whoIs(viewer: Viewer): string {
  return viewer.kind === "person" ? `person ${viewer.user}` : `device ${viewer.device}`;
}

/**
 * Who is behind a session cookie's value: a person (their session checked by `people`) or
 * a device, when the session expires (seconds) and its id (lib/users/signouts.ts); or why
 * no one is.
 */
export async function checkSessionCookie(
  node: NodeContext,
  value: string,
  people: SessionCheck,
): Promise<CheckedSession> {
  const nowS = Math.floor(node.now() / 1000);
  try {
    if (decodeJws(value).header.typ === USER_SESSION_TYPE) {
      const session = verifyUserSession(value, node.zoneId, nowS);
      const answer = await people.viewer(session);
      return "viewer" in answer
        ? {
            ...answer,
            expiresAt: session.claims.expiresAt,
            sessionId: personSessionId(session.claims),
            cookie: value,
          }
        : answer;
    }
    const session = verifySession(value, node.zoneId, nowS);
    const membership = node.membership();
    const sessionId = deviceSessionId(session);
    if (isSignedOut(node.db, membership, sessionId)) return SIGNED_OUT;
    if (standingOf(membership, session.issuer) !== "member")
      return { problem: { code: "gateway-gone" } };
    const member = membership.byId.get(session.device);
    if (!member || standingOf(membership, session.device) !== "member")
      return { problem: { code: "link-device-gone" } };
    return {
      viewer: { kind: "device", device: session.device, deviceName: member.name },
      expiresAt: session.expiresAt,
      sessionId,
      cookie: value,
    };
  } catch (error) {
    if (error instanceof ProtocolError)
      return { problem: { code: "invalid", detail: error.message } };
    throw error;
  }
}
