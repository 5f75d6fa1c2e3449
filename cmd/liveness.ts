/**
 * How often this zone's devices say they are alive, and so how long one counts as live;
 * and when they checkpoint their history. Tests and labs set them in seconds. (`bucky
 * status` loads this: the named data's times are in collection-times.ts, with their code.)
 */
import { DEFAULT_HEARTBEAT_MS, LIVE_WINDOW_BEATS } from "../lib/apps/status.ts";
import type { Environment } from "./context.ts";

/** BUCKY_HEARTBEAT_MS, for tests and labs that need failover in seconds. */
export function heartbeatMs(env: Environment): number {
  return Number(env.BUCKY_HEARTBEAT_MS ?? DEFAULT_HEARTBEAT_MS);
}

export function liveWindowMs(env: Environment): number {
  return heartbeatMs(env) * LIVE_WINDOW_BEATS;
}

/** BUCKY_CHECKPOINT_HORIZON_MS, _PERIOD_MS and _EVERY_MS: when history is compacted. */
export function compactionTimes(
  env: Environment,
): Partial<{ horizonMs: number; periodMs: number; everyMs: number }> {
  const times: { horizonMs?: number; periodMs?: number; everyMs?: number } = {};
  if (env.BUCKY_CHECKPOINT_HORIZON_MS) times.horizonMs = Number(env.BUCKY_CHECKPOINT_HORIZON_MS);
  if (env.BUCKY_CHECKPOINT_PERIOD_MS) times.periodMs = Number(env.BUCKY_CHECKPOINT_PERIOD_MS);
  if (env.BUCKY_CHECKPOINT_EVERY_MS) times.everyMs = Number(env.BUCKY_CHECKPOINT_EVERY_MS);
  return times;
}
