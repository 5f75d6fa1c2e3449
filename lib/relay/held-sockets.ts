/**
 * Sockets a relay holds for others, counted by the address they come from and in all, so
 * that one host cannot take every descriptor the relay has (and with them every device's
 * tunnels and requests), nor all hosts together more than the relay means to give.
 */
export class HeldSockets {
  private readonly byAddress = new Map<string, number>();
  private count = 0;

  constructor(
    /** At most this many from one address at once. */
    private readonly perAddress: number,
    /** At most this many from all addresses at once. */
    private readonly limit: number,
  ) {}

  /** Whether one more from `from` would be past a bound. */
  full(from: string): boolean {
    return (this.byAddress.get(from) ?? 0) >= this.perAddress || this.count >= this.limit;
  }

  add(from: string): void {
    this.count += 1;
    this.byAddress.set(from, (this.byAddress.get(from) ?? 0) + 1);
  }

  remove(from: string): void {
    const left = (this.byAddress.get(from) ?? 0) - 1;
    if (left < 0) return;
    this.count -= 1;
    if (left > 0) this.byAddress.set(from, left);
    else this.byAddress.delete(from);
  }
}
