/**
 * Sessions the gateway has checked, remembered by their cookie. Checking one costs two
 * signature checks for a person's (the gateway's over the session, the password's over its
 * claims) and the look-ups behind them: more than all the rest of the gateway's work on a
 * request, on every request a signed-in person makes. The answer depends only on the
 * cookie's bytes, the zone state and the time, so a session that stood is remembered
 * until the state changes (a person removed, a password reset, a device revoked:
 * whatever could end it) or is replaced by a checkpoint, until it expires, and for
 * REMEMBER_MS at most whatever happens. Only sessions that stood are remembered: a bad
 * cookie is checked each time, as before, and cannot fill the memory.
 */
import type { NodeContext } from "../node/node-context.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionCheck } from "../users/sessions.ts";
import { checkSession, NOT_SIGNED_IN, sessionCookie } from "./sessions.ts";

/** The longest a checked session is trusted without a look at the state. */
export const REMEMBER_MS = 60_000;
/** The most sessions remembered; past it, all are forgotten and checked again. */
const MAX_REMEMBERED = 4096;

export class CheckedSessions {
  private stood = new Map<string, { readonly viewer: Viewer; readonly untilMs: number }>();
  /** Counts the changes of state, so a check that straddles one is not remembered. */
  private generation = 0;
  private readonly stops: (() => void)[];

  constructor(
    private readonly node: NodeContext,
    private readonly people: SessionCheck,
  ) {
    const forget = () => {
      this.generation += 1;
      this.stood.clear();
    };
    this.stops = [node.onChange(forget), node.onRebase(forget)];
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  /** Who is behind a request's cookies, or why no one is (lib/gateway/sessions.ts). */
  async check(cookieHeader: string | null): Promise<{ viewer: Viewer } | { problem: string }> {
    const value = sessionCookie(cookieHeader);
    if (!value) return NOT_SIGNED_IN;
    const nowMs = this.node.now();
    const known = this.stood.get(value);
    if (known && nowMs < known.untilMs) return known;
    const generation = this.generation;
    const answer = await checkSession(this.node, cookieHeader, this.people);
    if ("viewer" in answer && generation === this.generation) {
      if (this.stood.size >= MAX_REMEMBERED) this.stood.clear();
      // A session stands while its expiry is after the current second (protocol/).
      const untilMs = Math.min(answer.expiresAt * 1000, nowMs + REMEMBER_MS);
      this.stood.set(value, { viewer: answer.viewer, untilMs });
    }
    return answer;
  }
}
