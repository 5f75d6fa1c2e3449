/**
 * What the gateway holds open to an app (a WebSocket bridged to it, an answer streamed
 * from it), checked again against the rules and the app's sharing. Both are checked when
 * the connection opens, and such a connection may stay open for hours: a block rule added
 * since (on any device), a rule's hours beginning (`--between 21:00-07:00`, a child's game
 * opened at 20:59), or the app no longer shared with the person, and it went on. So at
 * every refresh of the route table (each change of the state it reads, and each second)
 * each one held is asked again whether a new request like it would be refused, and ended,
 * with why, when it would. Its session is SessionConnections' to check.
 */
import type { Log } from "../log.ts";

/** Why a connection opened then would be refused now, or undefined while it would not be. */
export type Refusal = () => string | undefined;

export class HeldAccess {
  private readonly held = new Set<{
    readonly refused: Refusal;
    readonly end: (why: string) => void;
  }>();

  constructor(
    table: { onRefresh(listener: () => void): void },
    private readonly log: Log,
  ) {
    table.onRefresh(() => this.recheck());
  }

  /**
   * Holds a connection until the returned release is called (it closed); `end` is called
   * once, with why, if `refused` says it would be refused first.
   */
  hold(refused: Refusal, end: (why: string) => void): () => void {
    const held = { refused, end };
    this.held.add(held);
    return () => this.held.delete(held);
  }

  private recheck(): void {
    for (const held of this.held) {
      const why = held.refused();
      if (why === undefined) continue;
      this.held.delete(held);
      held.end(why);
      this.log.info("connection closed", { why });
    }
  }
}
