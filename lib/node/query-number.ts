/**
 * A whole-number query parameter of an API route, checked where it is read. `Number()`
 * took "abc" for NaN and "" for 0, and each route met those its own way: a 500 from a
 * date made of NaN, a silent "since the epoch", a log of every line.
 */
import { BuckyError } from "../errors.ts";

export interface WholeNumberRange {
  readonly min: number;
  readonly max: number;
  /** What an absent parameter means. */
  readonly absent: number;
}

export function wholeNumberQuery(
  value: string | undefined,
  name: string,
  { min, max, absent }: WholeNumberRange,
): number {
  if (value === undefined) return absent;
  const number = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < min || number > max)
    throw new BuckyError(
      "E_USAGE",
      `${name} is ${JSON.stringify(value.slice(0, 40))}, not a whole number from ${min} to ${max}`,
    );
  return number;
}

/**
 * The ranges of routes whose numbers the CLI also checks, before it asks (with the flag's
 * name, and with no daemon running): an app's output lines, the agents' log entries.
 */
export const LOG_LINES: WholeNumberRange = { min: 1, max: 1000, absent: 100 };
export const AGENT_LOG_LIMIT: WholeNumberRange = { min: 1, max: 1000, absent: 100 };
/**
 * The entries of the zone state one listing gives, when it is asked for a few (an agent's
 * list_state). Not asked (`bucky state list`), the route lists them all and reads no limit.
 */
export const STATE_LIST_LIMIT: WholeNumberRange = { min: 1, max: 100_000, absent: 100_000 };
