/** The one error for a zone state that was altered behind bucky's back, and what to do. */
import { BuckyError } from "../errors.ts";

/** What to do about a zone state that was altered. */
export const MEND_HINT =
  "Do not trust what this device holds. Rebuild its state from the signed changesets with " +
  "`bucky state repair` (with the daemon stopped; what other devices wrote comes back from " +
  "them), or restore the home with `bucky backup restore latest`.";

/** Errors that say this device's own state was altered (not, say, that a peer sent bad data). */
const alteredErrors = new WeakSet<BuckyError>();

export function stateAltered(path: string, what: string): BuckyError {
  const error = new BuckyError(
    "E_INTEGRITY",
    `the zone state in ${path} was altered: ${what}`,
    MEND_HINT,
  );
  alteredErrors.add(error);
  return error;
}

/** Whether `error` is one stateAltered made: this device's state is not what bucky wrote. */
export function isStateAltered(error: unknown): error is BuckyError {
  return error instanceof BuckyError && alteredErrors.has(error);
}
