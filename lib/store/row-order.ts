/**
 * The order last-writer-wins gives two rows of the zone state: by their clocks, and between
 * two of the same clock, by their authors. Records kept beside another (an app's acts beside
 * its spec, each of its limits beside the record of both) are weighed by it.
 */
import { compareHlc } from "../../protocol/hlc.ts";

/** A state row's clock and author, as the `state` table holds them. */
export interface RowClock {
  readonly hlc_ms: number;
  readonly hlc_counter: number;
  readonly author: string;
}

/** Whether row `a` was written after row `b`, as last-writer-wins orders them. */
export function writtenAfter(a: RowClock, b: RowClock): boolean {
  const order = compareHlc(
    { ms: a.hlc_ms, counter: a.hlc_counter },
    { ms: b.hlc_ms, counter: b.hlc_counter },
  );
  return order > 0 || (order === 0 && a.author > b.author);
}
