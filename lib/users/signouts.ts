/**
 * Signing out, zone-wide. A session cookie is checked by every gateway from the zone
 * state alone, so clearing it in one browser ended nothing: a copy of it still worked on
 * every gateway until it expired (30 days). Signing out records the session as ended in
 * the zone state, under the gateway that took the sign-out, `nodes/<gateway>/signed-out/
 * <session id>`, which only that gateway may write or delete (protocol/write-rules.ts):
 * no member device can bring a signed-out session back by deleting the record. Every
 * gateway, and every device an app runs on, refuses a session with such a record, as it
 * refuses one whose person was removed; the checks are remembered per state change
 * (lib/node/state-bound-memo.ts), so a request costs no read of the state for this.
 *
 * A record lasts as long as its session would have: the gateway deletes its own once
 * they expire (at its next sign-out and when it starts), so the records stay bounded by
 * the sign-outs of the last 30 days.
 *
 * A session is known by a digest of what its signature covers (its claims), never by the
 * cookie's bytes: a signature's base64url can be spelled more than one way, and a copied
 * cookie respelled must not escape its sign-out.
 *
 * Signing a person out everywhere (someone who lost a phone, whose sessions are in no
 * browser they hold) is one record per person, `nodes/<gateway>/signed-out-everywhere/
 * <user>`, saying when (a second of the epoch, by its writer's clock): every session of
 * that person opened until then, and a clock skew after (SESSION_CLOCK_SKEW_S: another
 * gateway whose clock is behind dates the sessions it opened in the same moment earlier),
 * is ended, at every gateway, as a single sign-out is. It goes, like those, once every
 * session it ended has expired anyway.
 *
 * Any member device may write such a record under its own name (`bucky user sign-out
 * --everywhere` runs on any device), so one dated further ahead than a clock can be
 * (SESSION_CLOCK_SKEW_S past this device's) counts for nothing: it would end every
 * session to come, and date the next ones past any expiry. Records of devices revoked
 * since still count (the revocation keeps what it keeps): retiring the gateway that took
 * a sign-out must not bring the sessions it ended back.
 */
import { createHash } from "node:crypto";
import { eq } from "drizzle-orm";
import type { Session } from "../../protocol/session.ts";
import {
  claimsBytes,
  MAX_SESSION_S,
  SESSION_CLOCK_SKEW_S,
  type SessionClaims,
} from "../../protocol/user-session.ts";
import type { NodeContext } from "../node/node-context.ts";
import { nextStampMs } from "../state/feed.ts";
import type { StateQueries } from "../store/db.ts";
import { keyGlob } from "../store/key-glob.ts";
import { state } from "../store/schema.ts";
import type { Membership } from "../sync/membership.ts";
import type { SessionProblem } from "./session-problem.ts";

/** The id of a person's session: its claims, each session's own (they hold its nonce). */
export function personSessionId(claims: SessionClaims): string {
  return digest("person", claimsBytes(claims));
}

/**
 * The id of a device's session (a login link's from a device that holds no owner key):
 * its fields, its nonce among them (a first-version session has none, and keeps the id it
 * was signed out under).
 */
export function deviceSessionId(session: Session): string {
  const fields: (string | number)[] = [
    session.zone,
    session.issuer,
    session.device,
    session.expiresAt,
  ];
  if (session.nonce !== undefined) fields.push(session.nonce);
  return digest("device", new TextEncoder().encode(JSON.stringify(fields)));
}

/** What a request with a signed-out session is told. */
export const SIGNED_OUT: { readonly problem: SessionProblem } = { problem: { code: "signed-out" } };

const signedOutKey = (gateway: string, id: string) => `nodes/${gateway}/signed-out/${id}`;

/** Whether `key` is a sign-out record, of one session or everywhere. */
export function isSignOutKey(key: string): boolean {
  return /^nodes\/[^/]+\/signed-out(-everywhere)?\//.test(key);
}
const everywhereKey = (gateway: string, user: string) =>
  `nodes/${gateway}/signed-out-everywhere/${user}`;

/**
 * Whether the session `id` was signed out at any gateway of the zone: one look-up per
 * device the zone knows (a few), made only when a session is checked anew.
 */
export function isSignedOut(db: StateQueries, membership: Membership, id: string): boolean {
  for (const name of membership.byName.keys()) {
    const row = db
      .select({ value: state.value })
      .from(state)
      .where(eq(state.key, signedOutKey(name, id)))
      .get();
    if (row?.value) return true;
  }
  return false;
}

/**
 * Until when (seconds since the epoch) `user`'s sessions were signed out everywhere, at
 * any gateway of the zone: a session opened then or before is ended (0: never). A record
 * counts only up to a skew past the clock it was written at (its row's, which every device
 * bounded when it took it), so one dated far ahead ends nothing; judged by that clock and
 * not this device's, a clock set back here does not undo every sign-out it holds.
 */
export function signedOutEverywhereUntil(
  db: StateQueries,
  membership: Membership,
  user: string,
): number {
  let until = 0;
  for (const name of membership.byName.keys()) {
    const row = db
      .select({ value: state.value, hlcMs: state.hlcMs })
      .from(state)
      .where(eq(state.key, everywhereKey(name, user)))
      .get();
    const at = row?.value ? untilOf(row.value) : 0;
    const writtenS = row ? Math.floor(row.hlcMs / 1000) : 0;
    if (at > 0 && at <= writtenS + SESSION_CLOCK_SKEW_S)
      until = Math.max(until, at + SESSION_CLOCK_SKEW_S);
  }
  return until;
}

/**
 * Ends every session of `user` opened until now, on every gateway of the zone as each
 * hears of it; returns until when (seconds since the epoch).
 */
export function recordSignOutEverywhere(node: NodeContext, user: string): number {
  // Dated by the zone's time here, not the wall clock: one behind left standing the
  // sessions other gateways opened in the gap.
  const nowS = Math.floor(nextStampMs(node.db, node.deviceId, node.now()) / 1000);
  // Sessions opened since the last sign-out everywhere are dated a second past what it
  // ends (lib/users/sessions.ts: newClaims): dated as it, this one would end none of them,
  // so it is dated a second past it (within the skew every gateway takes). Before, two in
  // the same second left the sessions opened between them standing.
  const last = signedOutEverywhereUntil(node.db, node.membership(), user);
  const until =
    last === 0
      ? nowS
      : Math.min(Math.max(nowS, last - SESSION_CLOCK_SKEW_S + 1), nowS + SESSION_CLOCK_SKEW_S);
  const ops = [
    { key: everywhereKey(node.deviceName, user), value: JSON.stringify({ until }) },
    ...expiredOps(node),
  ];
  node.write(ops);
  node.log.info("signed out everywhere", { user });
  return until;
}

/**
 * Ends the session `id` (which expires at `expiresAtS`) on every gateway of the zone, as
 * soon as each hears of it; records that have expired since go with the same write.
 */
export function recordSignOut(node: NodeContext, id: string, expiresAtS: number): void {
  const ops = [
    { key: signedOutKey(node.deviceName, id), value: JSON.stringify({ expiresAt: expiresAtS }) },
    ...expiredOps(node),
  ];
  node.write(ops);
  node.log.info("session signed out", { session: id.slice(0, 12) });
}

/** Deletes this gateway's records of sign-outs whose sessions have expired anyway. */
export function forgetExpiredSignOuts(node: NodeContext): void {
  const ops = expiredOps(node);
  if (ops.length === 0) return;
  node.write(ops);
  node.log.info("expired sign-outs forgotten", { count: ops.length });
}

/**
 * How long past its sessions' expiry a sign-out is kept. Deleted as soon as they expired by
 * this device's clock, a clock run ahead (a board booted with a wrong time) deleted records
 * of sessions still good, which stood again once the clock was set right.
 */
const KEPT_PAST_EXPIRY_S = 7 * 24 * 3600;

function expiredOps(node: NodeContext): { key: string; value: null }[] {
  const nowS = Math.floor(node.now() / 1000);
  const rows = (pattern: string) =>
    node.db
      .select({ key: state.key, value: state.value })
      .from(state)
      .where(keyGlob(pattern))
      .all()
      .flatMap((row) => (row.value === null ? [] : [{ key: row.key, value: row.value }]));
  // A sign-out everywhere ends sessions opened until a skew after it: the last of them
  // expires a session's longest life later.
  return [
    ...rows(signedOutKey(node.deviceName, "*")).filter(
      (row) => expiresAtOf(row.value) + KEPT_PAST_EXPIRY_S <= nowS,
    ),
    ...rows(everywhereKey(node.deviceName, "*")).filter(
      (row) =>
        untilOf(row.value) + SESSION_CLOCK_SKEW_S + MAX_SESSION_S + KEPT_PAST_EXPIRY_S <= nowS,
    ),
  ].map((row) => ({ key: row.key, value: null }));
}

/** When a record's session expires; a record of no known shape counts as expired. */
function expiresAtOf(value: string): number {
  return numberField(value, "expiresAt");
}

/** Until when a sign-out everywhere ends sessions; a record of no known shape, none. */
function untilOf(value: string): number {
  return numberField(value, "until");
}

function numberField(value: string, field: string): number {
  try {
    const parsed: unknown = JSON.parse(value);
    const at =
      typeof parsed === "object" && parsed !== null
        ? (parsed as Record<string, unknown>)[field]
        : undefined;
    return typeof at === "number" && Number.isFinite(at) ? at : 0;
  } catch {
    return 0;
  }
}

function digest(kind: string, bytes: Uint8Array): string {
  return createHash("sha256").update(`bucky-signed-out/${kind}\n`).update(bytes).digest("hex");
}
