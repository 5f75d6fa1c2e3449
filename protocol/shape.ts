/**
 * Field checks for decoded JSON and CBOR. Each one names the field and its limit, so a
 * rejected document says exactly what was wrong with it.
 */
import { check, ProtocolError } from "./errors.ts";

export function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array)
  );
}

/** `bytes` read as JSON (UTF-8), or a ProtocolError that `what` is not JSON. */
export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new ProtocolError(`${what} is not JSON`);
  }
}

export function requireRecord(value: unknown, what: string): Record<string, unknown> {
  check(isRecord(value), `${what} must be a map`);
  return value;
}

// These run on every field of every changeset a sync decodes: each message is built only
// when its check fails.

export function requireString(value: unknown, what: string, maxLength: number): string {
  if (typeof value !== "string") fail(`${what} must be a string`);
  if (value.length > maxLength) fail(`${what} is longer than ${maxLength} characters`);
  return value;
}

export function requireUint(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!(typeof value === "number" && Number.isSafeInteger(value) && value >= 0 && value <= max))
    fail(`${what} must be a whole number from 0 to ${max}`);
  return value;
}

export function requireBytes(value: unknown, what: string, length: number): Uint8Array {
  if (!(value instanceof Uint8Array)) fail(`${what} must be a byte string`);
  if (value.length !== length) fail(`${what} must be ${length} bytes, got ${value.length}`);
  return value;
}

/** Refuses fields a decoder does not know: a signed document means exactly what it says. */
export function requireOnlyFields(
  record: Record<string, unknown>,
  allowed: readonly string[],
  what: string,
) {
  for (const field of Object.keys(record)) {
    if (!allowed.includes(field)) fail(`${what} has an unknown field "${field}"`);
  }
}

function fail(message: string): never {
  throw new ProtocolError(message);
}
