/**
 * How often this zone's devices say they are alive, and so how long one counts as live;
 * how soon a device silent while awaited is found so; and when they checkpoint their history. Tests and labs set them in seconds. (`bucky
 * status` loads this: the named data's times are in collection-times.ts, with their code.)
 */
import { DEFAULT_HEARTBEAT_MS, LIVE_WINDOW_BEATS } from "../lib/apps/status.ts";
import { BuckyError } from "../lib/errors.ts";
import type { Environment } from "./context.ts";

/**
 * The milliseconds `env[name]` says, or undefined when it says none. Anything but a whole
 * number of at least `least` is refused: Number() of a typo is NaN, and a timer of NaN
 * fires at once, again and again.
 */
export function msOf(env: Environment, name: string, least = 1): number | undefined {
  const text = env[name];
  if (text === undefined || text === "") return undefined;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms < least)
    throw new BuckyError(
      "E_USAGE",
      `${name} must be a whole number of milliseconds, at least ${least}, not ${JSON.stringify(text)}`,
      `Unset it, or set it like ${name}=1500.`,
    );
  return ms;
}

/** BUCKY_HEARTBEAT_MS, for tests and labs that need failover in seconds. */
export function heartbeatMs(env: Environment): number {
  return msOf(env, "BUCKY_HEARTBEAT_MS") ?? DEFAULT_HEARTBEAT_MS;
}

export function liveWindowMs(env: Environment): number {
  return heartbeatMs(env) * LIVE_WINDOW_BEATS;
}

/** BUCKY_CHECKPOINT_HORIZON_MS, _PERIOD_MS and _EVERY_MS: when history is compacted. */
export function compactionTimes(
  env: Environment,
): Partial<{ horizonMs: number; periodMs: number; everyMs: number }> {
  return defined({
    horizonMs: msOf(env, "BUCKY_CHECKPOINT_HORIZON_MS"),
    periodMs: msOf(env, "BUCKY_CHECKPOINT_PERIOD_MS"),
    everyMs: msOf(env, "BUCKY_CHECKPOINT_EVERY_MS"),
  });
}

/**
 * BUCKY_SILENCE_PROBE_AFTER_MS and BUCKY_SILENCE_REPROBE_MS: when a gateway awaiting an
 * answer asks the device whether it is still there (lib/gateway/silence-watch.ts), for labs
 * that make a device silent and wait for the gateway to find it so.
 */
export function silenceTiming(env: Environment): { firstMs?: number; everyMs?: number } {
  return defined({
    firstMs: msOf(env, "BUCKY_SILENCE_PROBE_AFTER_MS"),
    everyMs: msOf(env, "BUCKY_SILENCE_REPROBE_MS"),
  });
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
  return defined({
    askAfterMs: msOf(env, "BUCKY_RELAY_ASK_AFTER_MS"),
    pongWaitMs: msOf(env, "BUCKY_RELAY_PONG_WAIT_MS"),
    probeTimeoutMs: msOf(env, "BUCKY_RELAY_PROBE_TIMEOUT_MS"),
  });
}

/** `fields` without those left undefined (the options' shapes have no undefined members). */
function defined<T extends Record<string, number | undefined>>(
  fields: T,
): { [K in keyof T]?: number } {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof T]?: number;
  };
}
