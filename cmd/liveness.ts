/** How often this zone's devices say they are alive, and so how long one counts as live. */
import { DEFAULT_HEARTBEAT_MS, LIVE_WINDOW_BEATS } from "../lib/apps/status.ts";
import type { Environment } from "./context.ts";

/** BUCKY_HEARTBEAT_MS, for tests and labs that need failover in seconds. */
export function heartbeatMs(env: Environment): number {
  return Number(env.BUCKY_HEARTBEAT_MS ?? DEFAULT_HEARTBEAT_MS);
}

export function liveWindowMs(env: Environment): number {
  return heartbeatMs(env) * LIVE_WINDOW_BEATS;
}
