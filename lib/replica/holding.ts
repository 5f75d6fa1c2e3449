/**
 * Which device holds an app's data, runs the app, and keeps copies of its data: decided
 * by every device alike from the same facts (the holder claims in the zone state, which
 * devices are live, what copy each device said it has), with no I/O here. Each device
 * then does its own part: runs the app, ships snapshots, follows, takes over, or steps
 * down.
 *
 * - The holder keeps the app while it is live: placement is sticky to where the data is.
 * - When the holder is no longer live, the live device with the newest copy of the
 *   holder's epoch takes over (it claims the next epoch). With no such copy, nobody runs
 *   the app: starting it empty elsewhere is how data was lost before. So too with no
 *   holder left (it left the zone) while the only copies are on members offline.
 * - A planned move (a device named by placement, `bucky app move`, or a drained holder)
 *   stops the app, ships the last snapshot, and the new device takes over from it.
 * - Standbys are the next live devices in the app's placement order.
 */
import { type Candidate, rankDevices } from "../../protocol/placement.ts";
import { type HolderClaim, holderOf } from "./claims.ts";

/** How far a device's copy of an app's data goes. */
export interface CopyPosition {
  /**
   * Whose snapshots it is: two devices may have claimed one epoch across a partition, and a
   * copy of the one that lost that epoch is no copy of the holder's data.
   */
  readonly holder: string;
  readonly epoch: number;
  readonly seq: number;
  /** It is the last snapshot before a planned move. */
  readonly final: boolean;
}

export interface HoldingInput {
  readonly app: string;
  /** "any", or the device it is pinned to. */
  readonly placement: string;
  /** A device the owner moved it to (`bucky app move`), or null. */
  readonly moveTo: string | null;
  /** How many devices should keep a copy besides the holder. */
  readonly standbys: number;
  /** Members in good standing. */
  readonly members: readonly Candidate[];
  readonly live: ReadonlySet<string>;
  /** Devices being drained: they hold and keep nothing they can give away. */
  readonly draining: ReadonlySet<string>;
  readonly claims: readonly HolderClaim[];
  /** Each device's copy, as it said (the asking device's own, as it knows it now). */
  readonly copies: ReadonlyMap<string, CopyPosition>;
}

export interface Holding {
  readonly holder: HolderClaim | undefined;
  /** The device that should run the app now, if any. */
  readonly runner: string | undefined;
  /** The runner must first claim the next epoch (it takes the app over, or is the first). */
  readonly claimant: string | undefined;
  /** Devices that should keep a copy of the data, best first. */
  readonly standbys: readonly string[];
  /** During a planned move: where the data goes. */
  readonly movingTo: string | undefined;
  /** When nobody runs the app, why, in words. */
  readonly waiting: string | undefined;
}

export function decideHolding(input: HoldingInput): Holding {
  const order = rankDevices(input.app, input.members).map((member) => member.name);
  const isMember = (device: string) => order.includes(device);
  const pinned = input.placement !== "any";
  const runnable = (device: string) =>
    input.live.has(device) && (pinned ? device === input.placement : !input.draining.has(device));
  const holder = holderOf(input.claims);
  const standbysOf = (keeper: string | undefined, extra?: string) => {
    const chosen = order
      .filter(
        (d) => d !== keeper && d !== holder?.device && input.live.has(d) && !input.draining.has(d),
      )
      .slice(0, input.standbys);
    return extra && extra !== keeper && !chosen.includes(extra) ? [...chosen, extra] : chosen;
  };
  /** The device with the newest copy: of `of`'s data at its epoch when given, else any. */
  const bestCopy = (candidates: readonly string[], of?: HolderClaim) => {
    let best: { device: string; copy: CopyPosition } | undefined;
    for (const device of candidates) {
      const copy = input.copies.get(device);
      if (!copy || (of !== undefined && !copyOf(copy, of))) continue;
      if (
        !best ||
        copy.epoch > best.copy.epoch ||
        (copy.epoch === best.copy.epoch && copy.seq > best.copy.seq)
      )
        best = { device, copy };
    }
    return best?.device;
  };

  if (!holder) {
    // A new app, or one whose holder left the zone: the best copy anywhere, else a fresh start.
    const fromCopy = bestCopy(order.filter(runnable));
    // Unless its only copies are on members offline now: started empty elsewhere, it would
    // put them aside as conflict copies once back. Waited for, as a failover waits.
    const away = pinned || fromCopy ? undefined : bestCopy(order.filter((d) => !input.live.has(d)));
    if (away)
      return {
        holder,
        runner: undefined,
        claimant: undefined,
        standbys: standbysOf(undefined),
        movingTo: undefined,
        waiting: `its data's newest copy is on ${away}, which is offline`,
      };
    const runner =
      fromCopy ??
      (pinned ? (isMember(input.placement) ? input.placement : undefined) : order.find(runnable));
    return {
      holder,
      runner,
      claimant: runner,
      standbys: standbysOf(runner),
      movingTo: undefined,
      waiting: runner ? undefined : "no live device of the zone can run it now",
    };
  }

  const desired = desiredHolder(input, holder, order, runnable, bestCopy);
  const holderLive = input.live.has(holder.device);
  const failover = (prefer?: string): Holding => {
    const candidates = order.filter((d) => d !== holder.device && runnable(d));
    const best = bestCopy(candidates, holder);
    // The device the app was moved to takes over only from a copy as new as any: from an
    // older one, what the newer held was lost. Else the newest copy takes over, and the
    // move goes on from it, a planned one.
    const theirs = prefer && candidates.includes(prefer) ? input.copies.get(prefer) : undefined;
    const newest = best === undefined ? undefined : input.copies.get(best);
    const preferred =
      theirs !== undefined && copyOf(theirs, holder) && theirs.seq >= (newest?.seq ?? 0);
    const runner = preferred ? prefer : best;
    return {
      holder,
      runner,
      claimant: runner,
      standbys: standbysOf(runner ?? holder.device),
      movingTo: undefined,
      waiting: runner
        ? undefined
        : `its data is on ${holder.device}, which is offline, and no other device has a copy of it`,
    };
  };

  if (desired === holder.device) {
    if (holderLive || pinned)
      return {
        holder,
        runner: holder.device,
        claimant: undefined,
        standbys: standbysOf(holder.device),
        movingTo: undefined,
        waiting: undefined,
      };
    return failover();
  }
  // A planned move. Without the holder there is no last snapshot to wait for.
  if (!holderLive) return failover(desired);
  if (!input.live.has(desired))
    return {
      holder,
      runner: holder.device,
      claimant: undefined,
      standbys: standbysOf(holder.device, desired),
      movingTo: desired,
      waiting: undefined,
    };
  const copy = input.copies.get(desired);
  const arrived = copy?.final === true && copyOf(copy, holder);
  return {
    holder,
    runner: arrived ? desired : undefined,
    claimant: arrived ? desired : undefined,
    standbys: arrived ? standbysOf(desired) : standbysOf(holder.device, desired),
    movingTo: desired,
    waiting: arrived ? undefined : `moving from ${holder.device} to ${desired}`,
  };
}

/** Where the data should be: the pinned device, the device it was moved to, or off a drained holder. */
function desiredHolder(
  input: HoldingInput,
  holder: HolderClaim,
  order: readonly string[],
  runnable: (device: string) => boolean,
  bestCopy: (candidates: readonly string[], of?: HolderClaim) => string | undefined,
): string {
  if (input.placement !== "any")
    return order.includes(input.placement) ? input.placement : holder.device;
  const moveTo = input.moveTo;
  if (moveTo && order.includes(moveTo) && !input.draining.has(moveTo)) return moveTo;
  if (input.draining.has(holder.device)) {
    const candidates = order.filter((d) => d !== holder.device && runnable(d));
    return bestCopy(candidates, holder) ?? candidates[0] ?? holder.device;
  }
  return holder.device;
}

/** Whether `copy` is of `holder`'s data at its epoch: the only copies it is taken over from. */
export function copyOf(copy: CopyPosition, holder: HolderClaim): boolean {
  return copy.epoch === holder.epoch && copy.holder === holder.device;
}
