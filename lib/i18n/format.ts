/**
 * Lists and times for people, in their language, through the runtime's Intl:
 * "3 minutes ago" and "3分钟前" come from the same call, never from pieces of text.
 */
import type { Language } from "./language.ts";

const UNITS: readonly [number, Intl.RelativeTimeFormatUnit][] = [
  [60, "second"],
  [60, "minute"],
  [24, "hour"],
  [30, "day"],
  [12, "month"],
  [Number.POSITIVE_INFINITY, "year"],
];

/** How long ago (or from now) `iso` is: "3 minutes ago", "yesterday", "in 2 hours". */
export function relativeTime(iso: string, nowMs: number, language: Language): string {
  const format = new Intl.RelativeTimeFormat(language, { numeric: "auto" });
  let value = (Date.parse(iso) - nowMs) / 1000;
  for (const [size, unit] of UNITS) {
    if (Math.abs(value) < size) return format.format(Math.round(value), unit);
    value /= size;
  }
  return iso;
}

/**
 * The exact time, in UTC (the browser shows it in its own time zone once it can); text
 * that is no time (another device may say anything) as it is, as relativeTime does.
 */
export function exactTime(iso: string, language: Language): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return new Intl.DateTimeFormat(language, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "UTC",
    timeZoneName: "short",
  }).format(date);
}

/** "a, b and c" / "a、b和c". */
export function listOf(items: readonly string[], language: Language): string {
  return new Intl.ListFormat(language, { type: "conjunction" }).format(items);
}
