/**
 * A device's app pipe (lib/gateway/app-pipe.ts), listening from the first app it runs: a
 * device with none has nothing behind the pipe, so it keeps neither the port open nor the
 * listener's memory (2.5-3.5 MB of an idle daemon's, measured). Loaded when first needed,
 * as the panel is. Until it listens, the peer API says this device runs no pipe, and its
 * gateways keep the ingress.
 */
import type { AppDoors } from "../apps/door.ts";
import type { Log } from "../log.ts";
import type { AppPipe } from "./app-pipe.ts";

export interface PipeOnDemand {
  /** The pipe's port while it listens. */
  port(): number | undefined;
  /** The pipe while it listens (relays' pipe streams are served by it). */
  current(): AppPipe | undefined;
  stop(): void;
}

/** After the pipe failed to start, the first wait before it is tried again (doubling). */
const START_RETRY_MS = 10_000;
/** The longest wait between tries of a pipe that keeps failing to start. */
const MAX_START_RETRY_MS = 10 * 60_000;

/**
 * Starts the pipe with `start` once `doors` has its first door; `log` hears a failure, and
 * it is tried again after `retryMs`, doubling to MAX_START_RETRY_MS (a listener that could
 * not open, for want of descriptors say, is not the device's lasting state). A try that
 * finds no door left does nothing: the pipe waits for the next first door, as at the start.
 */
export function appPipeOnDemand(
  doors: AppDoors,
  start: () => Promise<AppPipe>,
  log: Log,
  retryMs: number = START_RETRY_MS,
): PipeOnDemand {
  let pipe: AppPipe | undefined;
  let starting = false;
  let stopped = false;
  let nextRetryMs = retryMs;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const startOnce = () => {
    if (starting || stopped) return;
    starting = true;
    stopWatching();
    start().then(
      (started) => {
        if (stopped) started.stop();
        else pipe = started;
      },
      (error: unknown) => {
        // The ingress still carries every request: the apps lose only the shorter way.
        log.error("the app pipe could not start; apps are reached by the ingress", {
          error: (error as Error).message,
          retryInMs: nextRetryMs,
        });
        starting = false;
        retry = setTimeout(startIfServing, nextRetryMs);
        retry.unref();
        nextRetryMs = Math.min(nextRetryMs * 2, MAX_START_RETRY_MS);
      },
    );
  };
  // The apps went while the pipe waited to be tried again: nothing to serve, so no port
  // open and no listener's memory held for nothing, until the next app comes.
  const startIfServing = () => {
    if (doors.size > 0) startOnce();
    else stopWatching = watchDoors();
  };
  const watchDoors = () =>
    doors.onChange((app) => {
      if (doors.get(app)) startOnce();
    });
  let stopWatching = watchDoors();
  if (doors.size > 0) startOnce();
  return {
    port: () => pipe?.port,
    current: () => pipe,
    stop() {
      stopped = true;
      stopWatching();
      clearTimeout(retry);
      pipe?.stop();
    },
  };
}
