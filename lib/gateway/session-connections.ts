/**
 * What the gateway holds open for someone signed in, by the session cookie that let it in:
 * a WebSocket bridged to an app, an answer streamed from one (an event stream). A session
 * is checked when the connection opens, and such a connection may stay open for hours:
 * signed out since (everywhere, for a lost phone), removed, their password reset, it went
 * on, and the app went on hearing from, and answering, a browser that was no longer that
 * person's. When a change that may end sessions arrives here (lib/users/sessions.ts:
 * mayEndSessions), the sessions held are checked again, once per cookie, and what those
 * that no longer stand hold is ended, with why: the moment this gateway holds the change,
 * as a new request with the cookie is refused from then. A session also ends with time (its
 * expiry, 30 days after it opened): what is held is checked again each minute as well.
 */
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { describeSessionProblem } from "../users/session-problem.ts";
import { mayEndSessions } from "../users/sessions.ts";
import type { CheckedSessions } from "./checked-sessions.ts";
import { SESSION_COOKIE } from "./sessions.ts";

/**
 * Why a streamed answer was cut (the abort's reason): its session ended, or a rule or the
 * app's sharing refuses it now (lib/gateway/held-access.ts).
 */
export class NoLongerLetIn extends Error {
  override readonly name = "NoLongerLetIn";
}

/** How often what is held is checked again without a change: a session past its expiry ends within it. */
export const SESSION_RECHECK_MS = 60_000;

/** Ends one connection, saying why (its session's problem, in English). */
type End = (why: string) => void;

export class SessionConnections {
  private readonly byCookie = new Map<string, Set<{ readonly end: End }>>();
  private readonly stops: (() => void)[];

  constructor(
    node: Pick<NodeContext, "onChange" | "onRebase">,
    private readonly sessions: Pick<CheckedSessions, "check">,
    private readonly log: Log,
    recheckMs = SESSION_RECHECK_MS,
  ) {
    // Anything unexpected is the daemon's unhandled rejection: it crashes.
    const recheck = () => {
      if (this.byCookie.size > 0) void this.recheck();
    };
    this.stops = [
      node.onChange((changesets) => {
        // None applied: a batch that quarantined a device, whose sessions may end with it.
        if (
          changesets.length === 0 ||
          changesets.some((changeset) => changeset.ops.some((op) => mayEndSessions(op.key)))
        )
          recheck();
      }),
      node.onRebase(recheck),
    ];
    const timer = setInterval(recheck, recheckMs);
    // A gateway with nothing else to do is not kept running for it.
    timer.unref();
    this.stops.push(() => clearInterval(timer));
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  /**
   * Holds a connection the session `cookie` (its value) let in, until the returned
   * release is called (it closed); `end` is called once if the session ends first.
   */
  hold(cookie: string, end: End): () => void {
    const held = { end };
    const all = this.byCookie.get(cookie) ?? new Set();
    all.add(held);
    this.byCookie.set(cookie, all);
    return () => {
      const now = this.byCookie.get(cookie);
      now?.delete(held);
      if (now?.size === 0) this.byCookie.delete(cookie);
    };
  }

  private async recheck(): Promise<void> {
    // A turn first: the session memo forgets on the same change, whichever listener
    // hears of it first.
    await Promise.resolve();
    for (const [cookie, all] of [...this.byCookie]) {
      const answer = await this.sessions.check(`${SESSION_COOKIE}=${cookie}`);
      // Ended meanwhile by a recheck of its own (a change and the minute at once): once.
      if ("viewer" in answer || this.byCookie.get(cookie) !== all) continue;
      this.byCookie.delete(cookie);
      const why = describeSessionProblem(answer.problem);
      for (const held of all) held.end(why);
      this.log.info("connections closed", { count: all.size, why: answer.problem.code });
    }
  }
}
