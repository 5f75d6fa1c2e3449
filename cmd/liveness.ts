/**
 * How often this zone's devices say they are alive, and so how long one counts as live;
 * how soon a device silent while awaited is found so; and when they checkpoint their history. Tests and labs set them in seconds. (`bucky
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

/**
 * BUCKY_SILENCE_PROBE_AFTER_MS and BUCKY_SILENCE_REPROBE_MS: when a gateway awaiting an
 * answer asks the device whether it is still there (lib/gateway/silence-watch.ts), for labs
 * that make a device silent and wait for the gateway to find it so.
 */
export function silenceTiming(env: Environment): { firstMs?: number; everyMs?: number } {
  const timing: { firstMs?: number; everyMs?: number } = {};
  if (env.BUCKY_SILENCE_PROBE_AFTER_MS) timing.firstMs = Number(env.BUCKY_SILENCE_PROBE_AFTER_MS);
  if (env.BUCKY_SILENCE_REPROBE_MS) timing.everyMs = Number(env.BUCKY_SILENCE_REPROBE_MS);
  return timing;
}

/**
 * BUCKY_RELAY_ASK_AFTER_MS and BUCKY_RELAY_PONG_WAIT_MS: when a relay asks a quiet tunnel
 * for a pong, and how long it waits for one before it fails the streams asked of it
 * (lib/relay/hub.ts); BUCKY_RELAY_PROBE_TIMEOUT_MS: how long a probe of a device through a
 * relay may take (lib/relay/stream-probe.ts).
 */
export function relayPatience(env: Environment): {
  askAfterMs?: number;
  pongWaitMs?: number;
  probeTimeoutMs?: number;
} {
  const patience: { askAfterMs?: number; pongWaitMs?: number; probeTimeoutMs?: number } = {};
  if (env.BUCKY_RELAY_ASK_AFTER_MS) patience.askAfterMs = Number(env.BUCKY_RELAY_ASK_AFTER_MS);
  if (env.BUCKY_RELAY_PONG_WAIT_MS) patience.pongWaitMs = Number(env.BUCKY_RELAY_PONG_WAIT_MS);
  if (env.BUCKY_RELAY_PROBE_TIMEOUT_MS)
    patience.probeTimeoutMs = Number(env.BUCKY_RELAY_PROBE_TIMEOUT_MS);
  return patience;
}
