/**
 * Sending a peer the pages it lacks, one sending at a time per peer: each waits for the
 * one under way and starts from what the peer said it holds at its end. Two at once (an
 * exchange's and a push's; a peer's own pull answered meanwhile) each started from what
 * the peer held when it began, and sent the same pages, each at half the speed: on a
 * slow uplink (a 4 MiB page is 34 s at 1 Mbit/s) that was half of what went.
 */
import type { DeviceId } from "../../protocol/ids.ts";
import type { VersionVector } from "../../protocol/sync-messages.ts";

export class SendingTurns {
  /** `said` is told what a peer holds as each sending to it ends. */
  constructor(private readonly said: (device: DeviceId, have: VersionVector) => void = () => {}) {}

  /**
   * The last sending taken to each peer, settling with what the peer last said it holds,
   * or undefined when it failed: the next one waits for it.
   */
  private readonly last = new Map<DeviceId, Promise<VersionVector | undefined>>();

  /** Whether a sending to `device` is under way (or waits for its turn). */
  underWay(device: DeviceId): boolean {
    return this.last.has(device);
  }

  /**
   * Runs `send` once the sending to `device` under way, if any, has ended, with what the
   * peer said it holds at its end (undefined when none was under way, or it failed).
   */
  take(
    device: DeviceId,
    send: (acked: VersionVector | undefined) => Promise<VersionVector>,
  ): Promise<VersionVector> {
    const before = this.last.get(device);
    const sent = before ? before.then(send) : send(undefined);
    // Told first as it ends, before whoever awaits it: none is under way once it has.
    const ended = (have: VersionVector | undefined) => {
      if (this.last.get(device) === settled) this.last.delete(device);
      if (have) this.said(device, have);
      return have;
    };
    const settled: Promise<VersionVector | undefined> = sent.then(ended, () => ended(undefined));
    this.last.set(device, settled);
    return sent;
  }
}
