/**
 * Fields of a JSON request body (lib/node/http.ts jsonObject), each read with its type
 * checked: a wrong one is a usage error that names it, never a TypeError met further on
 * (which the daemon takes for a bug, and stops), nor a value of another type written into
 * the zone state for every device to read.
 */
import { BuckyError } from "../errors.ts";

/** The most text a field of a request takes. */
export const MAX_FIELD_CHARS = 4096;

/** `name`'s text, or undefined when it is absent (or null). */
export function optionalText(
  body: Readonly<Record<string, unknown>>,
  name: string,
  maxChars = MAX_FIELD_CHARS,
): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string")
    throw new BuckyError("E_USAGE", `${name} must be text, not ${shown(value)}`);
  if (value.length > maxChars)
    throw new BuckyError("E_USAGE", `${name} is over ${maxChars} characters, the most it takes`);
  return value;
}

/** A value as an error message shows it: its JSON, cut short. */
function shown(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 40);
}
