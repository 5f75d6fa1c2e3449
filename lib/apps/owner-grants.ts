/**
 * The owner's grants of one zone (protocol/owner-grant.ts), each checked once: a purge's
 * (protocol/app-purge.ts) and a package's to run unsandboxed (protocol/app-unsandboxed.ts).
 * A spec carrying one is checked at every convergence pass, every facts publication and
 * every `bucky status`, on every device, and checking a grant is an Ed25519 verification: a
 * member writing thousands of specs with grants (good or made up) would have every device
 * spend its CPU on them, over and over. Whether a text is a grant of the zone's owner is a
 * pure function of the text and the zone, so the answer, either way, is remembered. A
 * running node keeps one of each kind for its life (NodeContext.purgeGrants,
 * NodeContext.unsandboxedGrants); a command reading the state on its own makes one for its
 * answer.
 *
 * Answers are kept by app, one each: the grant its spec carries now (a new one replaces
 * it). So every spec asked at every pass stays known, however many there are: kept by
 * grant, a bounded number forgotten least lately asked first, past that number each pass
 * asked every one anew. What is held stays bounded by the apps asked of lately: an app
 * not asked of between two sweeps (each after twice as many questions as answers held,
 * and at least SWEEP_AFTER_ASKS) is forgotten, and checked again if asked.
 */
import { type PurgeGrant, verifyPurgeGrant } from "../../protocol/app-purge.ts";
import { type UnsandboxedGrant, verifyUnsandboxedGrant } from "../../protocol/app-unsandboxed.ts";
import type { SigningKey } from "../../protocol/ed25519.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import type { ZoneId } from "../../protocol/ids.ts";
import { BuckyError } from "../errors.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";

/** The fewest questions between two sweeps of the apps not asked of. */
export const SWEEP_AFTER_ASKS = 1024;

interface Answer<G> {
  /** The grant's text. */
  readonly jws: string;
  /** The grant, or null when the text is not the owner's. */
  readonly grant: G | null;
  /** Asked of since the last sweep. */
  asked: boolean;
}

export class OwnerGrants<G> {
  /** By app: the text last asked of, and what it is. */
  private readonly answers = new Map<string, Answer<G>>();
  private asks = 0;

  constructor(
    readonly zone: ZoneId,
    /** The grant `jws` is, of this kind, for `zone`; throws ProtocolError when it is not one. */
    private readonly verify: (jws: string, zone: ZoneId) => G,
    private readonly sweepAfterAsks = SWEEP_AFTER_ASKS,
  ) {}

  /**
   * The grant `jws` (carried by the spec of `app`) is, when the zone's owner signed it for
   * this zone; else undefined. What it grants is the caller's to check.
   */
  verified(app: string, jws: string): G | undefined {
    if (++this.asks > 2 * this.answers.size + this.sweepAfterAsks) this.sweep();
    const known = this.answers.get(app);
    if (known?.jws === jws) {
      known.asked = true;
      return known.grant ?? undefined;
    }
    let grant: G | null;
    try {
      grant = this.verify(jws, this.zone);
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

/** The owner's purge grants (lib/apps/purge.ts). */
export class PurgeGrants extends OwnerGrants<PurgeGrant> {
  constructor(zone: ZoneId, sweepAfterAsks?: number) {
    // Looked up at each call, not kept: a test watches the module's function.
    super(zone, (jws, of) => verifyPurgeGrant(jws, of), sweepAfterAsks);
  }
}

/** The owner's grants to run a package unsandboxed (lib/apps/unsandboxed.ts). */
export class UnsandboxedGrants extends OwnerGrants<UnsandboxedGrant> {
  constructor(zone: ZoneId) {
    super(zone, (jws, of) => verifyUnsandboxedGrant(jws, of));
  }
}

/**
 * The owner key to sign a grant with, or E_PERMISSION saying why only the owner may (a
 * device that does not hold it), with where to do it instead.
 */
export function ownerKeyToGrant(
  zone: Pick<ZoneWriter, "ownerKey">,
  refusal: { readonly message: string; readonly hint: string },
): SigningKey {
  try {
    return zone.ownerKey();
  } catch (error) {
    if (!(error instanceof BuckyError && error.code === "E_PERMISSION")) throw error;
    throw new BuckyError("E_PERMISSION", refusal.message, refusal.hint);
  }
}
