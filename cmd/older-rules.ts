/** A test hook that stands a process in for an older bucky's write rules. */
import { BuckyError } from "../lib/errors.ts";
import { WRITE_RULES_LEVEL } from "../protocol/write-rules.ts";
import type { Environment } from "./context.ts";

/**
 * BUCKY_TEST_WRITE_RULES_LEVEL: the level of write rules of an older bucky, which a test's
 * daemon enforces and says in its stead, and a test's `bucky join` says as it asks
 * (test/versions.test.ts). Never above this bucky's: a device saying it reads rules it
 * does not would stall the zone at itself.
 */
export function olderRulesLevel(env: Environment): number | undefined {
  const text = env.BUCKY_TEST_WRITE_RULES_LEVEL;
  if (text === undefined || text === "") return undefined;
  const level = Number(text);
  if (!Number.isSafeInteger(level) || level < 0 || level > WRITE_RULES_LEVEL)
    throw new BuckyError(
      "E_USAGE",
      `BUCKY_TEST_WRITE_RULES_LEVEL must be a level from 0 to ${WRITE_RULES_LEVEL}, not ${JSON.stringify(text)}`,
      "It stands a test's bucky in for an older one: unset it.",
    );
  return level;
}
