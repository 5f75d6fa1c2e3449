/**
 * People's sessions: opened by a gateway once someone proved who they are, and checked
 * by every gateway (and by the device running an app the session reaches) from the zone
 * state alone. A session stands while the gateway that signed it is a member, its person
 * is still of the zone, it was not signed out (alone, or everywhere: lib/users/signouts.ts),
 * and its proof holds: for a password or a passkey, with a credential the account still
 * counts (so `bucky user remove` and `bucky user reset` end it everywhere), and for a
 * password, with the key the password gives now (so a change of it ends the sessions the
 * old one opened); for the owner's login link, while the device it was made on is a
 * member.
 */
import { randomBytes } from "node:crypto";
import type { UserName } from "../../protocol/accounts.ts";
import { fromBase64url, toBase64url } from "../../protocol/encoding.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import {
  checkOwnerProof,
  checkPasswordProof,
  MAX_SESSION_S,
  passkeyChallenge,
  SESSION_NONCE_BYTES,
  type SessionClaims,
  type SessionProof,
  signUserSession,
  type UserSession,
} from "../../protocol/user-session.ts";
import { BuckyError } from "../errors.ts";
import type { NodeContext } from "../node/node-context.ts";
import { standingOf } from "../sync/membership.ts";
import type { Viewer } from "./access.ts";
import { touchesPeople } from "./directory.ts";
import { checkAssertion } from "./passkey.ts";
import type { SessionProblem } from "./session-problem.ts";
import {
  isSignedOut,
  isSignOutKey,
  personSessionId,
  SIGNED_OUT,
  signedOutEverywhereUntil,
} from "./signouts.ts";

/** How long a session lasts: as a login link's, and no longer than any may. */
export const PERSON_SESSION_TTL_S = MAX_SESSION_S;
/** Passkey proofs checked, remembered so a session costs one WebAuthn check per gateway. */
const MAX_REMEMBERED = 4096;

/**
 * The claims of a new session for `user`, signed by this gateway, from now: or from the
 * second after the person was last signed out everywhere, when that ends sessions until
 * a moment not yet past (sessions are dated in seconds, a sign-out everywhere counts a
 * clock skew after it, and one opened right after must not count as before). That is at
 * most two skews ahead (lib/users/signouts.ts), which every gateway takes.
 */
export function newClaims(node: NodeContext, user: UserName): SessionClaims {
  const nowS = Math.floor(node.now() / 1000);
  const issuedAt = Math.max(nowS, signedOutEverywhereUntil(node.db, node.membership(), user) + 1);
  return {
    zone: node.zoneId,
    user,
    gateway: node.deviceId,
    nonce: toBase64url(new Uint8Array(randomBytes(SESSION_NONCE_BYTES))),
    issuedAt,
    expiresAt: issuedAt + PERSON_SESSION_TTL_S,
  };
}

/** The session cookie for `claims` and the proof that goes with them. */
export function signSession(node: NodeContext, claims: SessionClaims, proof: SessionProof): string {
  if (claims.gateway !== node.deviceId)
    throw new BuckyError("E_INTERNAL", "a gateway signs only its own sessions");
  return signUserSession(claims, proof, node.zone.deviceKey);
}

/**
 * Whether a write of `key` may end sessions that stood: a sign-out, a change to a person
 * (removed, reset, a password changed), or to who is a member (the gateway that signed a
 * session, or the device whose link opened it, revoked: lib/sync/membership.ts). Not what
 * a device reports of itself (`devices/<name>/info`), which it rewrites as it changes.
 */
export function mayEndSessions(key: string): boolean {
  return isSignOutKey(key) || touchesPeople(key) || /^devices\/[^/]+\/(doc|revoked)$/.test(key);
}

/** Checks people's sessions on one device, remembering the passkey proofs it checked. */
export class SessionCheck {
  private readonly checked = new Set<string>();

  constructor(private readonly node: NodeContext) {}

  /** Who a verified session is (its signature checked by the caller), or why it does not stand. */
  async viewer(session: UserSession): Promise<{ viewer: Viewer } | { problem: SessionProblem }> {
    const { claims, proof } = session;
    const membership = this.node.membership();
    if (standingOf(membership, claims.gateway) !== "member")
      return { problem: { code: "gateway-gone" } };
    if (isSignedOut(this.node.db, membership, personSessionId(claims))) return SIGNED_OUT;
    if (claims.issuedAt <= signedOutEverywhereUntil(this.node.db, membership, claims.user))
      return SIGNED_OUT;
    const person = this.node.people().people.get(claims.user);
    if (!person) return { problem: { code: "person-gone", user: claims.user } };
    const viewer = (deviceName?: string): { viewer: Viewer } => ({
      viewer: {
        kind: "person",
        user: person.name,
        role: person.role,
        session,
        ...(person.removedAtMs !== undefined ? { removedAtMs: person.removedAtMs } : {}),
        ...(person.removedRev !== undefined ? { removedRev: person.removedRev } : {}),
        ...(deviceName ? { deviceName } : {}),
      },
    });
    try {
      if (proof.k === "owner") {
        const login = checkOwnerProof(proof, claims);
        if (standingOf(membership, login.device) !== "member")
          return { problem: { code: "link-device-gone" } };
        return viewer(membership.byId.get(login.device)?.name);
      }
      const credential = person.credentials.get(proof.cred);
      if (!credential || credential.kind !== proof.k)
        return { problem: { code: "credential-gone", user: claims.user, credential: proof.k } };
      if (proof.k === "password" && credential.kind === "password") {
        try {
          checkPasswordProof(proof, claims, fromBase64url(credential.publicKey) as Uint8Array);
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
          // Most often opened with the password the person has changed since.
          return {
            problem: { code: "credential-gone", user: claims.user, credential: "password" },
          };
        }
        return viewer();
      }
      if (proof.k === "passkey" && credential.kind === "passkey") {
        const remembered = JSON.stringify([claims, proof, credential.publicKey]);
        if (!this.checked.has(remembered)) {
          await checkAssertion(proof, credential, passkeyChallenge(claims));
          if (this.checked.size >= MAX_REMEMBERED) this.checked.clear();
          this.checked.add(remembered);
        }
        return viewer();
      }
      return { problem: { code: "invalid", detail: "its proof is of no known kind" } };
    } catch (error) {
      if (
        error instanceof ProtocolError ||
        (error instanceof BuckyError && error.code === "E_PERMISSION")
      )
        return { problem: { code: "invalid", detail: error.message } };
      throw error;
    }
  }
}
