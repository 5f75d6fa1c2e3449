/**
 * WebSockets the gateway bridged for someone signed in, held by the session cookie they
 * were let in with. A session is checked when a socket opens, and a socket may stay open
 * for hours: signed out since (everywhere, for a lost phone), removed, their password
 * reset, the socket went on, and the app went on hearing from, and answering, a browser
 * that was no longer that person's. When a change that may end sessions arrives here
 * (lib/users/sessions.ts: mayEndSessions), the sessions of the open sockets are checked
 * again, once per cookie, and the sockets of those that no longer stand are closed (1008,
 * with why), the moment this gateway holds the change, as a new request is refused then.
 */
import type { ServerWebSocket } from "bun";
import type { Log } from "../log.ts";
import type { NodeContext } from "../node/node-context.ts";
import { describeSessionProblem } from "../users/session-problem.ts";
import { mayEndSessions } from "../users/sessions.ts";
import type { CheckedSessions } from "./checked-sessions.ts";
import type { BridgeData } from "./forward.ts";
import { SESSION_COOKIE } from "./sessions.ts";

/** The close code for a socket whose session ended: the policy it was let in under. */
const SESSION_ENDED_CLOSE = 1008;
/** A close frame's reason is at most 123 bytes. */
const MAX_REASON_BYTES = 123;

type Socket = ServerWebSocket<BridgeData>;

export class SessionSockets {
  private readonly byCookie = new Map<string, Set<Socket>>();
  private readonly stops: (() => void)[];

  constructor(
    node: NodeContext,
    private readonly sessions: CheckedSessions,
    private readonly log: Log,
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
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  /** A socket opened: held while it is, when a session let it in. */
  opened(socket: Socket): void {
    const cookie = socket.data.sessionCookie;
    if (cookie === undefined) return;
    const held = this.byCookie.get(cookie) ?? new Set<Socket>();
    held.add(socket);
    this.byCookie.set(cookie, held);
  }

  /** A socket closed, by either end or by recheck. */
  closed(socket: Socket): void {
    const cookie = socket.data.sessionCookie;
    if (cookie === undefined) return;
    const held = this.byCookie.get(cookie);
    held?.delete(socket);
    if (held?.size === 0) this.byCookie.delete(cookie);
  }

  private async recheck(): Promise<void> {
    // A turn first: the session memo forgets on the same change, whichever listener
    // hears of it first.
    await Promise.resolve();
    for (const [cookie, held] of [...this.byCookie]) {
      const answer = await this.sessions.check(`${SESSION_COOKIE}=${cookie}`);
      if ("viewer" in answer) continue;
      const why = describeSessionProblem(answer.problem);
      const sockets = [...held];
      for (const socket of sockets) socket.close(SESSION_ENDED_CLOSE, reasonOf(why));
      this.byCookie.delete(cookie);
      this.log.info("websockets closed", {
        count: sockets.length,
        why: answer.problem.code,
      });
    }
  }
}

/** `why` cut to what a close frame carries: by bytes, whole characters (a name may be any). */
function reasonOf(why: string): string {
  const characters = [...why];
  while (Buffer.byteLength(characters.join("")) > MAX_REASON_BYTES) characters.pop();
  return characters.join("");
}
