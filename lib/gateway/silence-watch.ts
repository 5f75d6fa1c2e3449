/**
 * Telling a device gone silent from a slow app, for a request the gateway sent to that
 * device and is waiting on. A device whose packets are dropped (power cut, Wi-Fi gone)
 * says nothing: its connections neither answer nor fail, and a request sent just before
 * was held for the app's whole time (30 s, then 504). A slow app says nothing for a while
 * too, but its device still takes a connection: so when no answer has come for a moment,
 * the device is asked by a connect (lib/node/reachability.ts), and only two connects in a
 * row that do not open end the wait. One is not enough: on a busy machine a connect to a
 * live device can miss its time (the gateway's own event loop late to see it open), and
 * what a call there found lately (which the first ask may take as its answer) can be a
 * call that timed out on a device slow to answer, not silent. An app on a live device
 * keeps all its time.
 */

/** How long an answer may take before the device is asked whether it is still there. */
export const SILENCE_PROBE_AFTER_MS = 1_500;
/** While no answer comes, how often it is asked again: it may fall silent later. */
export const SILENCE_REPROBE_MS = 2_000;

/** Why a request was given up on: its device did not take a connection, twice in a row. */
export class DeviceSilent extends Error {
  override readonly name = "DeviceSilent";
  constructor(readonly address: string) {
    super(`its device did not take a connection at ${address} while its answer was awaited`);
  }
}

export interface SilenceWatch {
  /** Aborted, with a DeviceSilent, once the device did not take a connection twice in a row. */
  readonly signal: AbortSignal;
  /** The answer came (or the wait ended otherwise): no more asking. */
  stop(): void;
}

/**
 * Whether the device at `address` takes a connection: `fresh`, by a connect made now;
 * otherwise what was found there a moment ago may do.
 */
export type AnswersAt = (address: string, fresh: boolean) => Promise<boolean>;

/** When a device is asked whether it is still there: SILENCE_PROBE_AFTER_MS and SILENCE_REPROBE_MS unless given (tests shorten them). */
export interface SilenceTiming {
  readonly firstMs?: number;
  readonly everyMs?: number;
}

/**
 * Asks whether the device at `address` takes a connection (`answers`) after `firstMs` and
 * then every `everyMs` until stopped. When it does not, it is asked again at once by a
 * connect of its own, and the signal is aborted only when that one does not open either.
 */
export function watchForSilence(
  address: string,
  answers: AnswersAt,
  timing: SilenceTiming = {},
): SilenceWatch {
  const controller = new AbortController();
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ask = (confirming: boolean) => {
    void answers(address, confirming).then((answered) => {
      if (stopped) return;
      if (answered) timer = setTimeout(() => ask(false), timing.everyMs ?? SILENCE_REPROBE_MS);
      else if (confirming) controller.abort(new DeviceSilent(address));
      else ask(true);
    });
  };
  timer = setTimeout(() => ask(false), timing.firstMs ?? SILENCE_PROBE_AFTER_MS);
  return {
    signal: controller.signal,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
