/**
 * Which writes another device holds, told what a peer says it holds as each sending to it
 * ends (lib/node/sending-turns.ts) and as it pulls or pushes (lib/node/peer-api.ts), and a wait for
 * one to hold a write. A write whose answer
 * promises it outlives this device (a sign-out: the browser is told the session is over on
 * every gateway; the revocation of an agent or a device, a person's removal or reset)
 * waits, within a bound, for a peer to say so (an invitation's revocation, for its issuer):
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
  readonly seq: number;
  /** The one peer whose word is waited for, when only its will do. */
  readonly by: DeviceId | undefined;
  readonly held: () => void;
}

/**
 * What this device needs to weigh a peer's word: how far it has written itself, and
 * whether a peer's word counts (a member's does; a device revoked or quarantined since,
 * whose word is none, does not).
 */
export interface HoldingsJudge {
  ownHead(): number;
  counts(peer: DeviceId): boolean;
}

/**
 * Of this device's own writes, which another device holds. A peer's word is taken only as
 * far as this device had written when it was said (a claim to hold more is a lie, and would
 * have had every later write answered at once), and only while the peer is a member: the
 * device being revoked, with its stolen key, says what it likes, and its word must not
 * answer its own revocation.
 */
export class PeerHoldings {
  /** The newest of this device's changesets each peer said it holds. */
  private readonly newest = new Map<DeviceId, number>();
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly self: DeviceId,
    private readonly judge: HoldingsJudge,
  ) {}

  /** `peer` said it holds `have`: the writes of this device it covers are held there. */
  said(peer: DeviceId, have: VersionVector): void {
    const before = this.newest.get(peer) ?? 0;
    // Most sendings end with nothing new of this device's: no look at its head for those.
    if ((have.get(this.self) ?? 0) <= before) return;
    const claimed = Math.min(have.get(this.self) ?? 0, this.judge.ownHead());
    if (claimed <= before) return;
    this.newest.set(peer, claimed);
    if (this.waiters.size === 0 || !this.judge.counts(peer)) return;
    for (const waiter of this.waiters)
      if (claimed >= waiter.seq && (waiter.by === undefined || waiter.by === peer)) {
        this.waiters.delete(waiter);
        waiter.held();
      }
  }

  /** Whether a member (`by`, when given) has said it holds this device's changeset `seq`. */
  holds(seq: number, by?: DeviceId): boolean {
    for (const [peer, held] of this.newest)
      if (held >= seq && (by === undefined || by === peer) && this.judge.counts(peer)) return true;
    return false;
  }

  /**
   * Resolves true once a member (`by`, when given) says (or has said) it holds this
   * device's changeset `seq`, false after `withinMs` if none has (the write stands here,
   * and goes with the next exchange).
   */
  heldElsewhere(seq: number, withinMs: number, by?: DeviceId): Promise<boolean> {
    if (this.holds(seq, by)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(false);
      }, withinMs);
      const waiter: Waiter = {
        seq,
        by,
        held: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.add(waiter);
    });
  }
}
