/**
 * Answers worked out from a key's bytes, the zone state and the time alone, remembered:
 * until the state changes (a person removed, a password reset, a device revoked: whatever
 * could change an answer) or is replaced by a checkpoint, until each answer's own end, and
 * for MAX_REMEMBER_MS at most whatever happens. Checking a signed token costs signature
 * checks that dwarf the rest of a request's work; a token that stood is then known by its
 * bytes. Only answers worth keeping are kept (the caller says which): a bad token is
 * checked every time, and cannot fill the memory.
 */

/** The longest an answer is trusted without a look at the state. */
export const MAX_REMEMBER_MS = 60_000;
/** The most answers remembered; past it, all are forgotten and worked out again. */
const MAX_REMEMBERED = 4096;

/** What a memo hears from its node: the time, and when the state changed. */
export interface StateSignals {
  now(): number;
  onChange(listener: () => void): () => void;
  onRebase(listener: () => void): () => void;
}

export class StateBoundMemo<V> {
  private answers = new Map<string, { readonly value: V; readonly untilMs: number }>();
  /** Counts the changes of state, so an answer worked out across one is not kept. */
  private generation = 0;
  private readonly stops: (() => void)[];

  constructor(private readonly node: StateSignals) {
    const forget = () => {
      this.generation += 1;
      this.answers.clear();
    };
    this.stops = [node.onChange(forget), node.onRebase(forget)];
  }

  stop(): void {
    for (const stop of this.stops) stop();
  }

  /**
   * The answer for `key`: remembered, or worked out by `work`, which says whether to keep
   * it and until when (a time past MAX_REMEMBER_MS from now is cut to it). A remembered
   * answer is given at once, not a turn later: a signed-in person's every request to the
   * gateway asks for one.
   */
  get(key: string, work: () => Promise<{ answer: V; keepUntilMs?: number }>): V | Promise<V> {
    const known = this.answers.get(key);
    if (known && this.node.now() < known.untilMs) return known.value;
    return this.workOut(key, work);
  }

  private async workOut(
    key: string,
    work: () => Promise<{ answer: V; keepUntilMs?: number }>,
  ): Promise<V> {
    const nowMs = this.node.now();
    const generation = this.generation;
    const { answer, keepUntilMs } = await work();
    if (keepUntilMs !== undefined && generation === this.generation) {
      if (this.answers.size >= MAX_REMEMBERED) this.answers.clear();
      this.answers.set(key, {
        value: answer,
        untilMs: Math.min(keepUntilMs, nowMs + MAX_REMEMBER_MS),
      });
    }
    return answer;
  }
}
