/**
 * The reliability level of a zone (DESIGN.md), computed from facts about it, with the
 * warnings a person should act on, in plain words.
 *
 * Levels 1 to 3 need a backup outside the zone, which no zone can have until backups
 * exist; the facts grow as those capabilities land.
 */

export interface ReliabilityFacts {
  readonly deviceCount: number;
}

export interface Reliability {
  readonly level: 0 | 1 | 2 | 3;
  readonly summary: string;
  readonly warnings: readonly string[];
}

export function assessReliability(facts: ReliabilityFacts): Reliability {
  return {
    level: 0,
    summary:
      facts.deviceCount === 1
        ? "one device, no backup: data may be lost at any time"
        : "no backup outside the zone: data may be lost at any time",
    warnings: ["there is no backup outside the zone yet"],
  };
}
