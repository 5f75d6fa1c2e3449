/**
 * The owner's purge grants of one zone, each checked once. A removal that purges is
 * checked at every convergence pass, every facts publication and every `bucky status`, on
 * every device, and checking its grant is an Ed25519 verification: a member writing
 * thousands of removals with grants (good or made up) would have every device spend its
 * CPU on them, over and over. Whether a text is a grant of the zone's owner is a pure
 * function of the text and the zone, so the answer, either way, is remembered by the
 * exact text. A running node keeps one for its life (NodeContext.purgeGrants); a command
 * reading the state on its own makes one for its answer.
 */
import { type PurgeGrant, verifyPurgeGrant } from "../../protocol/app-purge.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";

/** The most answers remembered; past it, the least lately asked is forgotten (and checked again if asked). */
export const MAX_REMEMBERED_GRANTS = 1024;

export class PurgeGrants {
  /** Each text asked of, and what it is: the grant, or null when it is not the owner's. */
  private readonly answers = new Map<string, PurgeGrant | null>();

  constructor(
    readonly zone: ZoneId,
    private readonly capacity = MAX_REMEMBERED_GRANTS,
  ) {}

  /** The grant `jws` is, when the zone's owner signed it for this zone; else undefined. */
  verified(jws: string): PurgeGrant | undefined {
    const known = this.answers.get(jws);
    if (known !== undefined) {
      // Asked again: the newest, so that the least lately asked is forgotten first.
      this.answers.delete(jws);
      this.answers.set(jws, known);
      return known ?? undefined;
    }
    let answer: PurgeGrant | null;
    try {
      answer = verifyPurgeGrant(jws, this.zone);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      answer = null;
    }
    if (this.answers.size >= this.capacity) {
      const oldest = this.answers.keys().next();
      if (!oldest.done) this.answers.delete(oldest.value);
    }
    this.answers.set(jws, answer);
    return answer ?? undefined;
  }
}
