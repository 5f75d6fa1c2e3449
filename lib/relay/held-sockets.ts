/**
 * Sockets a relay holds for others, counted by the address they come from and in all, so
 * that one host cannot take every descriptor the relay has (and with them every device's
 * tunnels and requests), nor all hosts together more than the relay means to give. An IPv6
 * address counts by its /64 (rangeOf): one host is given a whole /64, and counted by each
 * of its addresses it had the relay's every slot from a few of them.
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
    return this.fullFrom(from) || this.fullInAll();
  }

  /** Whether one more from `from` would be past the bound of one address. */
  fullFrom(from: string): boolean {
    return (this.byAddress.get(rangeOf(from)) ?? 0) >= this.perAddress;
  }

  /** Whether one more from anywhere would be past the bound of all. */
  fullInAll(): boolean {
    return this.count >= this.limit;
  }

  /** How many are held now, from all addresses. */
  get inAll(): number {
    return this.count;
  }

  /** How many addresses (IPv6 ranges) hold some now. */
  get addresses(): number {
    return this.byAddress.size;
  }

  add(from: string): void {
    this.count += 1;
    const range = rangeOf(from);
    this.byAddress.set(range, (this.byAddress.get(range) ?? 0) + 1);
  }

  remove(address: string): void {
    const from = rangeOf(address);
    const left = (this.byAddress.get(from) ?? 0) - 1;
    if (left < 0) return;
    this.count -= 1;
    if (left > 0) this.byAddress.set(from, left);
    else this.byAddress.delete(from);
  }
}

/**
 * What sockets from `address` are counted by: an IPv6 address's /64 (`2001:db8:1:2::/64`),
 * any other address (IPv4, an IPv4-mapped IPv6 one, "local") as it is.
 */
export function rangeOf(address: string): string {
  const bare = address.split("%")[0] as string;
  if (!bare.includes(":") || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(bare)) return address;
  const halves = bare.split("::");
  if (halves.length > 2) return address;
  const groups = (half: string | undefined) => (half ? half.split(":") : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return address;
  const all = [...head, ...Array<string>(missing).fill("0"), ...tail];
  if (!all.every((group) => /^[0-9a-f]{1,4}$/i.test(group))) return address;
  return `${all
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}
