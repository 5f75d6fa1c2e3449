/**
 * Waits for another device to hold a write of this one, told what a peer says it holds as
 * each sending to it ends (lib/node/sending-turns.ts). A write whose answer promises it
 * outlives this device (a sign-out: the browser is told the session is over on every
 * gateway) waits, within a bound, for one to say so: answered at once, a gateway killed
 * right after left the session standing on the others in one try of six.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";

interface Waiter {
  readonly author: DeviceId;
  readonly seq: number;
  readonly held: (yes: boolean) => void;
}

export class PeerHoldings {
  private readonly waiters = new Set<Waiter>();

  /** A peer said it holds `have`: the writes it covers are held elsewhere. */
  said(have: VersionVector): void {
    for (const waiter of this.waiters)
      if ((have.get(waiter.author) ?? 0) >= waiter.seq) {
        this.waiters.delete(waiter);
        waiter.held(true);
      }
  }

  /**
   * Resolves true once a peer says it holds changeset `seq` of `author`, false after
   * `withinMs` if none has (the write stands here, and goes with the next exchange).
   */
  heldElsewhere(written: { readonly author: DeviceId; readonly seq: number }, withinMs: number) {
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, withinMs);
      const waiter: Waiter = {
        author: written.author,
        seq: written.seq,
        held: (yes) => {
          clearTimeout(timer);
          resolve(yes);
        },
      };
      this.waiters.add(waiter);
    });
  }
}
