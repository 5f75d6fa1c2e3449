/**
 * The members whose changesets this device refuses by a write rule (protocol/write-rules.ts):
 * a write of a kind its bucky does not take (a member upgraded before it), or one no bucky
 * takes. Every later changeset of that author waits here behind the refused one, so the
 * author's writes stop reaching this device, unsaid but for a warning in its log. Its facts
 * say it (lib/facts/payload.ts `writesRefused`), and every device's `bucky status` says who
 * refuses whom (lib/zone/refused-writes.ts).
 *
 * One entry per author: the seq it stopped at and the newest reason. Kept in memory: the
 * refused changesets come again with every exchange, so a restarted device notes them
 * again, and one upgraded since takes them, which clears the entry.
 */
import type { DeviceId } from "../../protocol/ids.ts";

/** Where an author's changesets stopped here: the seq refused, why, and since when (ms). */
export interface RefusedWrite {
  readonly seq: number;
  readonly reason: string;
  readonly sinceMs: number;
}

export class RefusedWrites {
  private readonly refused = new Map<DeviceId, RefusedWrite>();
  private listener: () => void = () => {};

  /** Calls `listener` when an author is first refused, stops elsewhere, or is taken again. */
  onChange(listener: () => void): void {
    this.listener = listener;
  }

  /** `author`'s changeset `seq` was refused here at `nowMs` by a write rule, for `reason`. */
  refusedAt(author: DeviceId, seq: number, reason: string, nowMs: number): void {
    const held = this.refused.get(author);
    if (held?.seq === seq && held.reason === reason) return;
    this.refused.set(author, { seq, reason, sinceMs: held?.seq === seq ? held.sinceMs : nowMs });
    this.listener();
  }

  /** `author`'s changeset `seq` was taken here: a refusal at or below it is over. */
  taken(author: DeviceId, seq: number): void {
    const held = this.refused.get(author);
    if (held === undefined || seq < held.seq) return;
    this.refused.delete(author);
    this.listener();
  }

  /** The authors refused now, each with where it stopped. */
  current(): ReadonlyMap<DeviceId, RefusedWrite> {
    return this.refused;
  }
}
