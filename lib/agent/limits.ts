/**
 * What keeps one agent from crowding out the others: each agent's calls per second on a
 * device (AgentRates, kept by its daemon, which every way of reaching the device asks),
 * its calls at once through each way in (AgentLimits: a device's /mcp, each `bucky mcp`),
 * and the daemon's budgets for recording refused calls (RefusalBudgets): those refused
 * for a bad token (anyone can make those) and each agent's refused for going past its
 * limits (as fast as it likes). Each recorded would be an audit entry every device keeps
 * for 90 days.
 */
import { TokenBucket } from "../gateway/limits.ts";

/** Calls an agent may make on a device: a steady 5 a second, bursts of 20. */
export const RATE_PER_S = 5;
const BURST = 20;
/** Calls of one agent under way at once through one way in. */
export const MAX_CALLS_AT_ONCE = 4;
/** Refused calls recorded: a steady one a second, bursts of 20; the rest are counted. */
const REFUSALS_PER_S = 1;
const REFUSAL_BURST = 20;

/**
 * Each agent's calls per second on this device. The daemon keeps it, and the token check
 * of every call takes from it, so an agent gets the same rate however many ways it
 * connects (a second `bucky mcp`, the device's /mcp beside it, a gateway's).
 */
export class AgentRates {
  private readonly rates = new Map<string, TokenBucket>();

  constructor(private readonly now: () => number) {}

  /** Takes one call of `agent`: undefined when it may go ahead, else why not. */
  take(agent: string): string | undefined {
    let bucket = this.rates.get(agent);
    if (!bucket) {
      bucket = new TokenBucket(RATE_PER_S, BURST, this.now);
      this.rates.set(agent, bucket);
    }
    const slot = bucket.take();
    return slot.ok
      ? undefined
      : `too many calls: ${agent} may make ${RATE_PER_S} a second; try again in ${slot.waitMs} ms`;
  }
}

export type Admission =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly reason: string };

/** Each agent's calls under way at once through one way in (its rate is AgentRates'). */
export class AgentLimits {
  private readonly running = new Map<string, number>();

  /**
   * Lets one call of `agent` start, or says why not. The caller releases it when the
   * work itself has finished (not when the agent stopped waiting for it), so work that
   * hangs keeps using up its own agent's calls, and nobody else's.
   */
  admit(agent: string): Admission {
    const running = this.running.get(agent) ?? 0;
    if (running >= MAX_CALLS_AT_ONCE)
      return {
        ok: false,
        reason: `too many calls at once: ${agent} may have ${MAX_CALLS_AT_ONCE} under way; wait for one to finish`,
      };
    this.running.set(agent, running + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        const left = (this.running.get(agent) ?? 1) - 1;
        if (left > 0) this.running.set(agent, left);
        else this.running.delete(agent);
      },
    };
  }
}

/**
 * Which refused calls are recorded: all of them while they come at most about once a
 * second; past that, one a second, saying how many were left out since the last.
 */
export class RefusalBudget {
  private readonly bucket: TokenBucket;
  private skipped = 0;

  constructor(now: () => number) {
    this.bucket = new TokenBucket(REFUSALS_PER_S, REFUSAL_BURST, now);
  }

  /** Whether to record this refusal; if so, how many were left unrecorded before it. */
  take(): { record: false } | { record: true; skipped: number } {
    if (!this.bucket.take().ok) {
      this.skipped++;
      return { record: false };
    }
    const skipped = this.skipped;
    this.skipped = 0;
    return { record: true, skipped };
  }
}

/** Budgets of their own past this many: a member device could sign tokens for any name. */
const MAX_BUDGETS = 1_000;

/**
 * A RefusalBudget for each caller (an agent's name; "unknown" for tokens no member
 * signed; one for tokens a member signed under a name granted by another device:
 * lib/agent/grants.ts, refusedCaller), so that one flooding uses up its own budget, not
 * another's: a stranger sending garbage could otherwise keep a revoked agent's calls out
 * of the log.
 */
export class RefusalBudgets {
  private readonly budgets = new Map<string, RefusalBudget>();

  constructor(private readonly now: () => number) {}

  take(caller: string): ReturnType<RefusalBudget["take"]> {
    let budget = this.budgets.get(caller);
    if (!budget) {
      if (this.budgets.size >= MAX_BUDGETS) this.budgets.clear();
      budget = new RefusalBudget(this.now);
      this.budgets.set(caller, budget);
    }
    return budget.take();
  }
}

/** A recorded refusal's outcome, saying how many refusals before it were left out. */
export function withSkipped(outcome: string, skipped: number): string {
  return skipped > 0
    ? `${outcome} (${skipped} more refusals before this one were not recorded)`
    : outcome;
}
