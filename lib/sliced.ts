/**
 * Long work over the database done a slice at a time, so a daemon keeps answering while
 * it checks or computes: a generator yields between rows, and the loop gives the event
 * loop a turn whenever a slice has run this long.
 */

/** How long one slice runs before others get a turn. */
export const SLICE_MS = 10;

/** Runs `steps` to its end a slice at a time; undefined when `stopped` says to give up. */
export async function runSliced<T>(
  steps: Generator<void, T, void>,
  stopped: () => boolean,
): Promise<T | undefined> {
  try {
    let sliceStart = performance.now();
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value;
      if (stopped()) return undefined;
      if (performance.now() - sliceStart > SLICE_MS) {
        await new Promise((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
  } finally {
    steps.return(undefined as T);
  }
}

/** Runs `steps` to its end at once, for a caller with nothing else to do meanwhile. */
export function runAll<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
