/**
 * Telling a device gone silent from a slow app, for a request the gateway sent to that
 * device and is waiting on. A device whose packets are dropped (power cut, Wi-Fi gone)
 * says nothing: its connections neither answer nor fail, and a request sent just before
 * was held for the app's whole time (30 s, then 504). A slow app says nothing for a while
 * too, but its device still takes a connection: so when no answer has come for a moment,
 * the device is asked by a connect (lib/node/reachability.ts), and only a connect that
 * does not open ends the wait. An app on a live device keeps all its time.
 */

/** How long an answer may take before the device is asked whether it is still there. */
export const SILENCE_PROBE_AFTER_MS = 1_500;
/** While no answer comes, how often it is asked again: it may fall silent later. */
export const SILENCE_REPROBE_MS = 2_000;

/** Why a request was given up on: its device did not take a connection. */
export class DeviceSilent extends Error {
  override readonly name = "DeviceSilent";
  constructor(readonly address: string) {
    super(`its device did not take a connection at ${address} while its answer was awaited`);
  }
}

export interface SilenceWatch {
  /** Aborted, with a DeviceSilent, once the device did not take a connection. */
  readonly signal: AbortSignal;
  /** The answer came (or the wait ended otherwise): no more asking. */
  stop(): void;
}

/**
 * Asks whether the device at `address` takes a connection (`answers`) after `firstMs` and
 * then every `everyMs` until stopped, and aborts its signal the first time it does not.
 */
export function watchForSilence(
  address: string,
  answers: (address: string) => Promise<boolean>,
  timing: { readonly firstMs?: number; readonly everyMs?: number } = {},
): SilenceWatch {
  const controller = new AbortController();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ask = () => {
    void answers(address).then((answered) => {
      if (stopped) return;
      if (!answered) return controller.abort(new DeviceSilent(address));
      timer = setTimeout(ask, timing.everyMs ?? SILENCE_REPROBE_MS);
    });
  };
  timer = setTimeout(ask, timing.firstMs ?? SILENCE_PROBE_AFTER_MS);
  return {
    signal: controller.signal,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
