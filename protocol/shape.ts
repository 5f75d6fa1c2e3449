/**
 * Field checks for decoded JSON and CBOR. Each one names the field and its limit, so a
 * rejected document says exactly what was wrong with it.
 */
import { check } from "./errors.ts";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

export function requireRecord(value: unknown, what: string): Record<string, unknown> {
  check(isRecord(value), `${what} must be a map`);
  return value;
}

export function requireString(value: unknown, what: string, maxLength: number): string {
  check(typeof value === "string", `${what} must be a string`);
  check(value.length <= maxLength, `${what} is longer than ${maxLength} characters`);
  return value;
}

export function requireUint(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  check(
    typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= max,
    `${what} must be a whole number from 0 to ${max}`,
  );
  return value;
}

export function requireBytes(value: unknown, what: string, length: number): Uint8Array {
  check(value instanceof Uint8Array, `${what} must be a byte string`);
  check(value.length === length, `${what} must be ${length} bytes, got ${value.length}`);
  return value;
}

/** Refuses fields a decoder does not know: a signed document means exactly what it says. */
export function requireOnlyFields(
  record: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
) {
  for (const field of Object.keys(record)) {
    check(allowed.includes(field), `${what} has an unknown field "${field}"`);
  }
}
