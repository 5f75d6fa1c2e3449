/** Names on the command line: defaults, and a usage error that says what a name may be. */
import { hostname } from "node:os";
import { BuckyError } from "../lib/errors.ts";
import { type NameCheck, suggestName } from "../protocol/names.ts";

/** This device's name unless the user gives one: the host name, made a valid name. */
export function defaultDeviceName(): string {
  return suggestName(hostname()) ?? "device";
}

export function requireName<T>(check: NameCheck<T>, what: string): T {
  if (check.ok) return check.name;
  throw new BuckyError(
    "E_INVALID_INPUT",
    `invalid ${what}: ${check.reason}`,
    "A name is 1 to 63 lowercase letters, digits and hyphens, starting with a letter, like `home` or `laptop-2`.",
  );
}
