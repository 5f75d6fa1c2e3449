/**
 * When named data nothing refers to is collected, from the environment: tests and labs
 * set the times in seconds.
 */
import { DEFAULT_GRACE_MS } from "../lib/ndn/collect.ts";
import { DEFAULT_COLLECT_EVERY_MS } from "../lib/ndn/collector.ts";
import type { Environment } from "./context.ts";
import { msOf } from "./liveness.ts";

/** BUCKY_NDN_GRACE_MS: how long named data nothing refers to is kept before it is collected. */
export function ndnGraceMs(env: Environment): number {
  return msOf(env, "BUCKY_NDN_GRACE_MS", 0) ?? DEFAULT_GRACE_MS;
}

/** BUCKY_NDN_COLLECT_EVERY_MS: how often the daemon collects named data. */
export function ndnCollectEveryMs(env: Environment): number {
  return msOf(env, "BUCKY_NDN_COLLECT_EVERY_MS") ?? DEFAULT_COLLECT_EVERY_MS;
}
