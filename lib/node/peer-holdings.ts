/**
 * Which writes another device holds, told what a peer says it holds as each sending to it
 * ends (lib/node/sending-turns.ts), and a wait for one to hold a write. A write whose answer
 * promises it outlives this device (a sign-out: the browser is told the session is over on
 * every gateway; an agent's revocation) waits, within a bound, for a peer to say so:
 * answered at once, a gateway killed right after left the session standing on the others
 * in one try of six.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";

/**
 * How long such a write waits for another device to hold it before it is answered anyway:
 * a peer takes a write in milliseconds (p50 5 ms, bench/sync.ts), so this waits only on
 * peers that are away or slow.
 */
export const HELD_ELSEWHERE_WITHIN_MS = 3_000;

interface Waiter {
  readonly author: DeviceId;
  readonly seq: number;
  readonly held: () => void;
}

export class PeerHoldings {
  /** The newest changeset of each author some peer said it holds. */
  private readonly newest = new Map<DeviceId, number>();
  private readonly waiters = new Set<Waiter>();

  /** A peer said it holds `have`: the writes it covers are held elsewhere. */
  said(have: VersionVector): void {
    for (const [author, seq] of have)
      if (seq > (this.newest.get(author) ?? 0)) this.newest.set(author, seq);
    for (const waiter of this.waiters)
      if ((have.get(waiter.author) ?? 0) >= waiter.seq) {
        this.waiters.delete(waiter);
        waiter.held();
      }
  }

  /**
   * Resolves true once a peer says (or has said) it holds changeset `seq` of `author`, false
   * after `withinMs` if none has (the write stands here, and goes with the next exchange).
   */
  heldElsewhere(
    written: { readonly author: DeviceId; readonly seq: number },
    withinMs: number,
  ): Promise<boolean> {
    if ((this.newest.get(written.author) ?? 0) >= written.seq) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, withinMs);
      const waiter: Waiter = {
        author: written.author,
        seq: written.seq,
        held: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.add(waiter);
    });
  }
}
