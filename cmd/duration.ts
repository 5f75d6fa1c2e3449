/** Durations as people type them: `90s`, `30m`, `1h`, `7d` (or a combination, `1h30m`). */
import { BuckyError } from "../lib/errors.ts";

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string, flag: string): number {
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new BuckyError(
      "E_USAGE",
      `${flag} ${JSON.stringify(text)} is not a duration`,
      "Use a number and a unit: 90s, 30m, 1h, 7d.",
    );
  }
  return parts.reduce(
    (total, [, amount, unit]) => total + Number(amount) * (UNIT_MS[unit as string] as number),
    0,
  );
}
