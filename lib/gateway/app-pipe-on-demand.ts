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
  stop(): void;
}

/** Starts the pipe with `start` once `doors` has its first door; `log` hears a failure. */
export function appPipeOnDemand(
  doors: AppDoors,
  start: () => Promise<AppPipe>,
  log: Log,
): PipeOnDemand {
  let pipe: AppPipe | undefined;
  let starting = false;
  let stopped = false;
  const startOnce = () => {
    if (starting || stopped) return;
    starting = true;
    stopWatching();
    start().then(
      (started) => {
        if (stopped) started.stop();
        else pipe = started;
      },
      (error: unknown) =>
        // The ingress still carries every request: the apps lose only the shorter way.
        log.error("the app pipe could not start; apps are reached by the ingress", {
          error: (error as Error).message,
        }),
    );
  };
  const stopWatching = doors.onChange((app) => {
    if (doors.get(app)) startOnce();
  });
  if (doors.size > 0) startOnce();
  return {
    port: () => pipe?.port,
    stop() {
      stopped = true;
      stopWatching();
      pipe?.stop();
    },
  };
}
