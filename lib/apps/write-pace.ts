/**
 * How fast an app may change the zone state through its app API, by count and by bytes.
 * Each state write is a changeset every device of the zone keeps (whole, for at least a
 * week before compaction), so an app in a loop must grow no device's disk without end:
 * one too many is refused with E_RATE_LIMITED (429, Retry-After), said in the log once a
 * run of refusals, not once a write.
 */
import { BuckyError } from "../errors.ts";
import { TokenBucket } from "../gateway/limits.ts";
import type { Log } from "../log.ts";
import { formatBytes } from "../units.ts";

export interface WritePaceBounds {
  readonly changesPerSecond: number;
  readonly changeBurst: number;
  readonly bytesPerSecond: number;
  readonly burstBytes: number;
}

/**
 * Changes: a burst of 100, then 10 a second. Bytes (key and value): the zone state is for
 * small records (settings, indexes, ids of named data); bulk data belongs in the app's data
 * directory or in named data, which are not copied into every device's history. At 2 KiB/s
 * sustained, a week of history (what every device keeps before compaction) holds at most
 * 1.2 GiB of an app's keys and values, small next to a device's disk, and 170 MiB a day is
 * still far more than an app of records writes. (Each change's envelope, some 270 bytes of
 * clock, hashes and signature, is bounded by the count: at 10 a second, 1.5 GiB a week more.) The 1 MiB burst (refilled in about 8.5 minutes) lets an app save
 * a few large records at once (sixteen of the largest, 64 KiB, values) or set itself up.
 * Without the byte bound, 10 values of 64 KiB a second grew every device by 78 GB a day.
 */
export const WRITE_PACE: WritePaceBounds = {
  changesPerSecond: 10,
  changeBurst: 100,
  bytesPerSecond: 2 * 1024,
  burstBytes: 1024 * 1024,
};

export class WritePace {
  private readonly changes: TokenBucket;
  private readonly bytes: TokenBucket;
  /** Changes refused since the last one let through: the run of refusals going on. */
  private refused = 0;

  constructor(
    private readonly app: string,
    now: () => number,
    private readonly log: Log,
    readonly bounds: WritePaceBounds = WRITE_PACE,
  ) {
    this.changes = new TokenBucket(bounds.changesPerSecond, bounds.changeBurst, now);
    this.bytes = new TokenBucket(bounds.bytesPerSecond, bounds.burstBytes, now);
  }

  /**
   * Takes one change of `sizeBytes` (key and value of a state write; 0 for a change that
   * adds nothing to the zone state), or refuses it, taking nothing, with E_RATE_LIMITED
   * naming the bound it is over and when to try again.
   */
  take(sizeBytes: number): void {
    const changesWaitMs = this.changes.waitMs(1);
    const bytesWaitMs = this.bytes.waitMs(sizeBytes);
    if (changesWaitMs === 0 && bytesWaitMs === 0) {
      this.changes.take(1);
      this.bytes.take(sizeBytes);
      if (this.refused > 0) {
        this.log.info("app writes resumed", { app: this.app, refused: this.refused });
        this.refused = 0;
      }
      return;
    }
    const overBytes = bytesWaitMs >= changesWaitMs;
    const retryAfterS = Math.max(1, Math.ceil(Math.max(changesWaitMs, bytesWaitMs) / 1000));
    if (this.refused === 0)
      this.log.warn("app writes paced", {
        app: this.app,
        over: overBytes ? "bytes" : "changes",
        retryAfterS,
      });
    this.refused += 1;
    const { bounds } = this;
    throw new BuckyError(
      "E_RATE_LIMITED",
      overBytes
        ? `${this.app} writes too much too fast: at most ${formatBytes(bounds.bytesPerSecond)} a second of zone state (bursts up to ${formatBytes(bounds.burstBytes)}), since every device of the zone keeps each byte`
        : `${this.app} writes too fast: at most ${bounds.changesPerSecond} changes a second (each is kept by every device of the zone)`,
      overBytes
        ? `Try again in ${retryAfterS} s. The zone state is for small records: keep bulk data in the app's data directory ($BUCKY_DATA_DIR) or as named data.`
        : `Try again in ${retryAfterS} s, and gather changes into fewer writes.`,
      { retryAfterS },
    );
  }
}
