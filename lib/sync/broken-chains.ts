/**
 * Broken chains this device met and found in no proof yet: a member's changeset from a
 * peer whose prev is not the hash held at the seq before, which shows the peer holds
 * another history of it below. Each is searched with that peer (lib/sync/fork-search.ts),
 * a bounded few changesets a round, going further back each round, until the fork point
 * is found and the proof quarantines the author; until then `bucky status` says it, on
 * every device: the device that met it says so in its facts (lib/facts/payload.ts).
 * Kept in memory: a restarted device meets the broken chain again at its next exchange.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import { compareCodeUnits } from "../../protocol/text-order.ts";
import type { ForkSearch } from "./fork-search.ts";
import type { Member, Membership } from "./membership.ts";

/** The most broken chains remembered (peers × members met with one). */
export const MAX_BROKEN_CHAINS = 256;
/** The most searched with one peer in one exchange. */
export const SEARCHES_PER_EXCHANGE = 4;

export interface BrokenChain {
  readonly author: DeviceId;
  /** The author's name, for status. */
  readonly device: string;
  /** The peer that holds the other history. */
  readonly peer: string;
  /** Ask the peer for the author's changesets below this seq. */
  readonly below: number;
  readonly sinceMs: number;
}

/** A broken chain as `bucky status` says it. */
export interface BrokenChainNote {
  readonly device: string;
  readonly peer: string;
  /** The seq where the histories were seen to differ (the fork is at or below it). */
  readonly seq: number;
  /** The device that met it, and looks for where the histories part. */
  readonly seenBy: string;
}

export class BrokenChains {
  private readonly chains = new Map<string, BrokenChain>();

  /** Notes that `peer` sent `member`'s changeset `seq` that does not chain to what is held. */
  note(peer: string, member: Member, seq: number, nowMs: number): void {
    const key = keyOf(peer, member.id);
    const known = this.chains.get(key);
    // One being searched goes on from where it is.
    if (known) return;
    if (this.chains.size >= MAX_BROKEN_CHAINS) return;
    this.chains.set(key, {
      author: member.id,
      device: member.name,
      peer,
      below: seq,
      sinceMs: nowMs,
    });
  }

  /** The broken chains to search with `peer` now, a few at most. */
  toSearch(peer: string): BrokenChain[] {
    return [...this.chains.values()]
      .filter((chain) => chain.peer === peer)
      .slice(0, SEARCHES_PER_EXCHANGE);
  }

  /** What searching `chain` found: one to search further goes on next round from there. */
  searched(chain: BrokenChain, found: ForkSearch): void {
    const key = keyOf(chain.peer, chain.author);
    if (found.kind === "further") this.chains.set(key, { ...chain, below: found.below });
    else this.chains.delete(key);
  }

  /**
   * Forgets the broken chains a proof held now explains (at or past its fork); one below
   * it is a second, lower fork, searched on.
   */
  settled(membership: Membership): void {
    for (const [key, chain] of this.chains) {
      const forkSeq = membership.byId.get(chain.author)?.forkSeq;
      if (forkSeq !== undefined && chain.below >= forkSeq) this.chains.delete(key);
    }
  }

  /** For `bucky status` and this device's facts (it is `self`): one note per author, by name. */
  notes(membership: Membership, self: string): BrokenChainNote[] {
    const byDevice = new Map<string, BrokenChainNote>();
    for (const chain of this.chains.values()) {
      const member = membership.byId.get(chain.author);
      if (!member || member.revokedAfterSeq !== undefined) continue;
      if (chain.below >= (member.forkSeq ?? Number.POSITIVE_INFINITY)) continue;
      if (!byDevice.has(member.name))
        byDevice.set(member.name, {
          device: member.name,
          peer: chain.peer,
          seq: chain.below,
          seenBy: self,
        });
    }
    return [...byDevice.values()].sort((a, b) => compareCodeUnits(a.device, b.device));
  }
}

function keyOf(peer: string, author: DeviceId): string {
  return `${peer}\u0000${author}`;
}
