/**
 * Sessions the gateway has checked, remembered by their cookie. Checking one costs two
 * signature checks for a person's (the gateway's over the session, the password's over its
 * claims) and the look-ups behind them: more than all the rest of the gateway's work on a
 * request, on every request a signed-in person makes. The answer depends only on the
 * cookie's bytes, the zone state and the time, so a session that stood is remembered
 * (lib/node/state-bound-memo.ts) until it expires at the latest.
 */
import type { NodeContext } from "../node/node-context.ts";
import { StateBoundMemo } from "../node/state-bound-memo.ts";
import type { Viewer } from "../users/access.ts";
import type { SessionProblem } from "../users/session-problem.ts";
import type { SessionCheck } from "../users/sessions.ts";
import { checkSession, NOT_SIGNED_IN, sessionCookie } from "./sessions.ts";

/** Who, and the session's id (lib/users/signouts.ts); or why no one. */
type Answer = { viewer: Viewer; sessionId: string } | { problem: SessionProblem };

export class CheckedSessions {
  private readonly stood: StateBoundMemo<Answer>;

  constructor(
    private readonly node: NodeContext,
    private readonly people: SessionCheck,
  ) {
    this.stood = new StateBoundMemo(node);
  }

  stop(): void {
    this.stood.stop();
  }

  /** Who is behind a request's cookies, or why no one is (lib/gateway/sessions.ts). */
  check(cookieHeader: string | null): Promise<Answer> | Answer {
    const value = sessionCookie(cookieHeader);
    if (!value) return NOT_SIGNED_IN;
    return this.stood.get(value, async () => {
      const answer = await checkSession(this.node, cookieHeader, this.people);
      // A session stands while its expiry is after the current second (protocol/).
      return "viewer" in answer
        ? {
            answer: { viewer: answer.viewer, sessionId: answer.sessionId },
            keepUntilMs: answer.expiresAt * 1000,
          }
        : { answer };
    });
  }
}
