/**
 * The owner's purge grants of one zone, each checked once. A removal that purges is
 * checked at every convergence pass, every facts publication and every `bucky status`, on
 * every device, and checking its grant is an Ed25519 verification: a member writing
 * thousands of removals with grants (good or made up) would have every device spend its
 * CPU on them, over and over. Whether a text is a grant of the zone's owner is a pure
 * function of the text and the zone, so the answer, either way, is remembered. A running
 * node keeps one for its life (NodeContext.purgeGrants); a command reading the state on
 * its own makes one for its answer.
 *
 * Answers are kept by app, one each: the grant its spec carries now (a new one replaces
 * it). So every removal asked at every pass stays known, however many there are: kept by
 * grant, a bounded number forgotten least lately asked first, past that number each pass
 * asked every one anew. What is held stays bounded by the apps asked of lately: an app
 * not asked of between two sweeps (each after twice as many questions as answers held,
 * and at least SWEEP_AFTER_ASKS) is forgotten, and checked again if asked.
 */
import { type PurgeGrant, verifyPurgeGrant } from "../../protocol/app-purge.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";

/** The fewest questions between two sweeps of the apps not asked of. */
export const SWEEP_AFTER_ASKS = 1024;

interface Answer {
  /** The grant's text. */
  readonly jws: string;
  /** The grant, or null when the text is not the owner's. */
  readonly grant: PurgeGrant | null;
  /** Asked of since the last sweep. */
  asked: boolean;
}

export class PurgeGrants {
  /** By app: the text last asked of, and what it is. */
  private readonly answers = new Map<string, Answer>();
  private asks = 0;

  constructor(
    readonly zone: ZoneId,
    private readonly sweepAfterAsks = SWEEP_AFTER_ASKS,
  ) {}

  /**
   * The grant `jws` (carried by the spec of `app`) is, when the zone's owner signed it for
   * this zone; else undefined. Which removal it grants is the caller's to check.
   */
  verified(app: string, jws: string): PurgeGrant | undefined {
    if (++this.asks > 2 * this.answers.size + this.sweepAfterAsks) this.sweep();
    const known = this.answers.get(app);
    if (known?.jws === jws) {
      known.asked = true;
      return known.grant ?? undefined;
    }
    let grant: PurgeGrant | null;
    try {
      grant = verifyPurgeGrant(jws, this.zone);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      grant = null;
    }
    this.answers.set(app, { jws, grant, asked: true });
    return grant ?? undefined;
  }

  /** Forgets the apps not asked of since the last sweep. */
  private sweep(): void {
    for (const [app, answer] of this.answers) {
      if (answer.asked) answer.asked = false;
      else this.answers.delete(app);
    }
    this.asks = 0;
  }
}
