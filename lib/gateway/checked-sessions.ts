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
import { checkSessionCookie, firstThatOpens, NOT_SIGNED_IN, sessionCookies } from "./sessions.ts";

/** Who, and the session's id (lib/users/signouts.ts); or why no one. */
type Answer = { viewer: Viewer; sessionId: string } | { problem: SessionProblem };
/** Who is behind a request, with the cookie that says so (what holds its connections). */
export type Checked =
  | { viewer: Viewer; sessionId: string; cookie: string }
  | { problem: SessionProblem };

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

  /**
   * Who is behind a request's cookies, or why no one is (lib/gateway/sessions.ts
   * checkSession): at once, without a turn's wait, for a request without a session cookie
   * or with one session remembered.
   */
  check(cookieHeader: string | null): Promise<Checked> | Checked {
    const values = sessionCookies(cookieHeader);
    const [only] = values;
    if (only === undefined) return NOT_SIGNED_IN;
    if (values.length > 1)
      return firstThatOpens(values, async (value) => withCookie(await this.one(value), value));
    const answer = this.one(only);
    return answer instanceof Promise
      ? answer.then((settled) => withCookie(settled, only))
      : withCookie(answer, only);
  }

  private one(value: string): Promise<Answer> | Answer {
    return this.stood.get(value, async () => {
      const answer = await checkSessionCookie(this.node, value, this.people);
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

const withCookie = (answer: Answer, cookie: string): Checked =>
  "viewer" in answer ? { ...answer, cookie } : answer;
