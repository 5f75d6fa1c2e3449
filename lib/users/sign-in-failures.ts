/**
 * Wrong passwords, counted zone-wide. Each gateway limited sign-in attempts in its own
 * memory, so a zone of n gateways gave an attacker n times the guesses at a person's
 * password, and a gateway that restarted forgot every guess it had refused. So each
 * gateway also records the wrong passwords it was given for a person, in the zone state
 * under its own name (`nodes/<gateway>/sign-in-failures/<user>`, which only it may write:
 * protocol/write-rules.ts), and every gateway counts everyone's before it hashes a guess:
 * at most FAILURES_PER_WINDOW wrong passwords per person in any FAILURE_WINDOW_MS, across
 * the whole zone, and across restarts. Only the gap while a record travels to the other
 * gateways (a push, usually well under a second) lets a few more through.
 *
 * Only passwords count: a passkey cannot be guessed, so password guesses never lock a
 * person out of their passkey. Only people count: a made-up name writes nothing, so
 * a flood of names cannot grow the state (the gateway's own limits bound those).
 * A record keeps its last FAILURES_PER_WINDOW guesses, and goes once they are all older
 * than the window: the state holds at most one small record per person and gateway.
 */
import type { UserName } from "../../protocol/accounts.ts";
import type { NodeContext } from "../node/node-context.ts";
import { keyGlob } from "../store/key-glob.ts";
import { stateValue } from "../store/reads.ts";
import { state } from "../store/schema.ts";
import { standingOf } from "../sync/membership.ts";

/** Wrong passwords a person may be given in any window, at all the zone's gateways together. */
export const FAILURES_PER_WINDOW = 10;
/** The window: ten guesses in five minutes, the pace each gateway's own limit keeps (signin.ts). */
export const FAILURE_WINDOW_MS = 5 * 60_000;
/**
 * A record's guesses dated up to this far ahead (a gateway's clock a little astray) count as
 * now; further ahead, not at all: they would never leave the window.
 */
const MAX_AHEAD_MS = 60_000;

const failuresKey = (gateway: string, user: string) => `nodes/${gateway}/sign-in-failures/${user}`;

/**
 * How long `user` must wait before a password is checked for them again (0: not at all),
 * from the wrong passwords every member gateway recorded.
 */
export function zoneFailureWaitMs(node: NodeContext, user: UserName): number {
  const nowMs = node.now();
  const membership = node.membership();
  const times: number[] = [];
  for (const member of membership.byName.values()) {
    if (standingOf(membership, member.id) !== "member") continue;
    for (const at of timesOf(stateValue(node.db, failuresKey(member.name, user)) ?? null))
      if (at > nowMs - FAILURE_WINDOW_MS && at <= nowMs + MAX_AHEAD_MS)
        times.push(Math.min(at, nowMs));
  }
  if (times.length < FAILURES_PER_WINDOW) return 0;
  times.sort((a, b) => a - b);
  // Once the oldest guess that keeps the count at the bound leaves the window, one more may come.
  const oldest = times[times.length - FAILURES_PER_WINDOW] as number;
  return Math.max(1, oldest + FAILURE_WINDOW_MS - nowMs);
}

/** Records a wrong password for `user` at this gateway; this gateway's stale records go with it. */
export function recordFailure(node: NodeContext, user: UserName): void {
  const nowMs = node.now();
  const key = failuresKey(node.deviceName, user);
  const kept = timesOf(stateValue(node.db, key) ?? null).filter(
    (at) => at > nowMs - FAILURE_WINDOW_MS && at <= nowMs,
  );
  const times = [...kept, nowMs].slice(-FAILURES_PER_WINDOW);
  node.write([{ key, value: JSON.stringify({ at: times }) }, ...staleOps(node, key)]);
}

/** Deletes this gateway's records whose guesses have all left the window. */
function staleOps(node: NodeContext, except: string): { key: string; value: null }[] {
  const nowMs = node.now();
  return node.db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(keyGlob(failuresKey(node.deviceName, "*")))
    .all()
    .filter(
      (row) =>
        row.key !== except &&
        row.value !== null &&
        timesOf(row.value).every((at) => at <= nowMs - FAILURE_WINDOW_MS),
    )
    .map((row) => ({ key: row.key, value: null }));
}

/** A record's times (at most FAILURES_PER_WINDOW of them); a record of no known shape has none. */
function timesOf(value: string | null): number[] {
  if (value === null || value.length > 1024) return [];
  try {
    const parsed: unknown = JSON.parse(value);
    const at =
      typeof parsed === "object" && parsed !== null ? (parsed as { at?: unknown }).at : undefined;
    if (!Array.isArray(at)) return [];
    return at
      .filter((t): t is number => typeof t === "number" && Number.isFinite(t))
      .slice(-FAILURES_PER_WINDOW);
  } catch {
    return [];
  }
}
