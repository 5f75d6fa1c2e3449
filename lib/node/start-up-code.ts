/**
 * A daemon lets go of the code its start compiled, once it has started: opening and
 * checking the zone, migrations, building the routes and the first round of each periodic
 * job compile about 1,200 functions (their bytecode linked, some of it JIT-compiled), most
 * of which never run again, and JavaScriptCore keeps each function's compiled code for as
 * long as the function exists. Releasing it (JavaScriptCore's deleteAllCode, then a full
 * collection, through `Bun.shrink`) gave an idle daemon 1.2-1.5 MB of its memory back;
 * whatever runs again is compiled again from the embedded bytecode, as at the first call.
 */

/** Long enough for the start's work and the periodic jobs' first rounds to be done. */
export const RELEASE_START_UP_CODE_AFTER_MS = 5_000;

/** Asks JavaScriptCore to drop all compiled code when next idle; a no-op where Bun has no such call. */
export function releaseCompiledCode(): void {
  const bun = Bun as { shrink?: () => void };
  bun.shrink?.();
}

/**
 * Releases the compiled code `afterMs` from now, once; the returned function cancels it
 * (for a daemon that stops first). The timer keeps no process alive.
 */
export function releaseStartUpCode(
  afterMs: number = RELEASE_START_UP_CODE_AFTER_MS,
  release: () => void = releaseCompiledCode,
): () => void {
  const timer = setTimeout(release, afterMs);
  timer.unref();
  return () => clearTimeout(timer);
}
