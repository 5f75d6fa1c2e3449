/** Durations as people type them: `90s`, `30m`, `1h`, `7d` (or a combination, `1h30m`). */
import { BuckyError } from "../lib/errors.ts";

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as Record<string, number> & {
  readonly d: number;
};
/** A hundred years: longer than anything a duration is given for here. */
const MAX_DURATION_MS = 36_500 * 86_400_000;

export function parseDuration(text: string, flag: string): number {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new BuckyError(
      "E_USAGE",
      `${flag} ${JSON.stringify(text)} is not a duration`,
      "Use a number and a unit: 90s, 30m, 1h, 7d.",
    );
  }
  const ms = parts.reduce(
    (total, [, amount, unit]) => total + Number(amount) * (UNIT_MS[unit as string] as number),
    0,
  );
  // Past it, a time this far from now is no date (and "since" it, every time is).
  if (ms > MAX_DURATION_MS)
    throw new BuckyError(
      "E_USAGE",
      `${flag} ${JSON.stringify(text)} is longer than ${MAX_DURATION_MS / UNIT_MS.d} days`,
      "Use a number and a unit: 90s, 30m, 1h, 7d.",
    );
  return ms;
}
