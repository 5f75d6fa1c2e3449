/**
 * Access rules (parental control): block an app, for everyone or for one client address,
 * one device's sessions, one person or everyone of a role, always or in a time window on
 * some days. Rules live in the zone state, so every gateway enforces the same ones, and a
 * rule's window and days are read in the time zone it names, so every gateway reads them
 * alike, wherever it is and whatever its own zone. Matching is pure: the time is passed in. (A rule naming a person or
 * a role is refused by a bucky older than accounts, as a field it does not know: it is
 * then not enforced there, never enforced wrongly.)
 */
import { check } from "./errors.ts";
import { isRecord, requireOnlyFields, requireString } from "./shape.ts";

export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface Rule {
  readonly id: string;
  readonly action: "block";
  /** An app id, or "*" for every app. */
  readonly app: string;
  /** Only requests from this client address. */
  readonly client?: string;
  /** Only requests from sessions opened through this device's login links. */
  readonly device?: string;
  /** Only requests from this person's sessions. */
  readonly user?: string;
  /** Only requests from the sessions of people of this role. */
  readonly role?: string;
  /** Minutes after midnight, [start, end); when end < start the window spans midnight. */
  readonly between?: { readonly start: number; readonly end: number };
  readonly days?: readonly Weekday[];
  /**
   * The IANA time zone its window and days are read in, that of the device it was made on
   * unless it was told another. A rule made before rules named one has none: each gateway
   * reads it in its own.
   */
  readonly timeZone?: string;
}

export interface RequestFacts {
  readonly app: string;
  readonly client: string;
  /** The device name behind the request's session, if it has one. */
  readonly device?: string;
  /** The person signed in, and their role, if the session is a person's. */
  readonly user?: string;
  readonly role?: string;
  /** The weekday and the minutes after midnight now in `timeZone` (the gateway's own when undefined). */
  readonly localTime: (timeZone: string | undefined) => LocalTime;
}

export interface LocalTime {
  readonly weekday: Weekday;
  readonly minute: number;
}

export function ruleMatches(rule: Rule, request: RequestFacts): boolean {
  if (rule.app !== "*" && rule.app !== request.app) return false;
  if (rule.client !== undefined && rule.client !== request.client) return false;
  if (rule.device !== undefined && rule.device !== request.device) return false;
  if (rule.user !== undefined && rule.user !== request.user) return false;
  if (rule.role !== undefined && rule.role !== request.role) return false;
  if (!rule.between && !rule.days) return true;
  const { weekday, minute } = request.localTime(rule.timeZone);
  if (rule.between) {
    const { start, end } = rule.between;
    const inside = start <= end ? minute >= start && minute < end : minute >= start || minute < end;
    if (!inside) return false;
    // A window past midnight belongs to the day it started on.
    const day = start > end && minute < end ? previousDay(weekday) : weekday;
    if (rule.days && !rule.days.includes(day)) return false;
  } else if (rule.days && !rule.days.includes(weekday)) {
    return false;
  }
  return true;
}

/** "21:00-07:00" → minutes; undefined when malformed. */
export function parseWindow(text: string): { start: number; end: number } | undefined {
  const match = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$/.exec(text);
  if (!match) return undefined;
  const start = Number(match[1]) * 60 + Number(match[2]);
  const end = Number(match[3]) * 60 + Number(match[4]);
  return start === end || end > 24 * 60 ? undefined : { start, end };
}

/** "mon-fri", "sat,sun", "mon,wed-fri" → weekdays; undefined when malformed. */
export function parseDays(text: string): Weekday[] | undefined {
  const days = new Set<Weekday>();
  for (const part of text.toLowerCase().split(",")) {
    const [from, to] = part.split("-") as [string, string | undefined];
    const a = WEEKDAYS.indexOf(from as Weekday);
    const b = to === undefined ? a : WEEKDAYS.indexOf(to as Weekday);
    if (a < 0 || b < 0) return undefined;
    for (let i = a; ; i = (i + 1) % 7) {
      days.add(WEEKDAYS[i] as Weekday);
      if (i === b) break;
    }
  }
  return WEEKDAYS.filter((day) => days.has(day));
}

/** Whether `name` is an IANA time zone this runtime knows, like Europe/Berlin or UTC. */
export function isTimeZone(name: string): boolean {
  try {
    formatter(name);
    return true;
  } catch {
    return false;
  }
}

/** The weekday and minute of `at` in time zone `timeZone` (an IANA name, or undefined for the system's). */
export function localTime(at: Date, timeZone?: string): LocalTime {
  const parts = formatter(timeZone).formatToParts(at);
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? "";
  return {
    weekday: part("weekday").toLowerCase().slice(0, 3) as Weekday,
    minute: Number(part("hour")) * 60 + Number(part("minute")),
  };
}

/** Reads a rule from the zone state. Throws ProtocolError when malformed. */
export function decodeRule(value: unknown): Rule {
  check(isRecord(value), "a rule is an object");
  requireOnlyFields(
    value,
    ["id", "action", "app", "client", "device", "user", "role", "between", "days", "timeZone"],
    "rule",
  );
  check(value.action === "block", "a rule's action is block");
  const rule: Rule = {
    id: requireString(value.id, "rule id", 64),
    action: "block",
    app: requireString(value.app, "rule app", 64),
    ...(value.client !== undefined
      ? { client: requireString(value.client, "rule client", 64) }
      : {}),
    ...(value.device !== undefined
      ? { device: requireString(value.device, "rule device", 64) }
      : {}),
    ...(value.user !== undefined ? { user: requireString(value.user, "rule user", 64) } : {}),
    ...(value.role !== undefined ? { role: requireString(value.role, "rule role", 16) } : {}),
    ...(value.timeZone !== undefined
      ? { timeZone: requireString(value.timeZone, "rule timeZone", 64) }
      : {}),
  };
  check(rule.timeZone === undefined || isTimeZone(rule.timeZone), "rule timeZone is a time zone");
  const between =
    value.between === undefined ? undefined : isRecord(value.between) ? value.between : undefined;
  if (value.between !== undefined) {
    check(
      between && typeof between.start === "number" && typeof between.end === "number",
      "rule between is {start, end}",
    );
  }
  const days = value.days;
  if (days !== undefined)
    check(
      Array.isArray(days) && days.every((d) => (WEEKDAYS as readonly unknown[]).includes(d)),
      "rule days are weekdays",
    );
  return {
    ...rule,
    ...(between ? { between: { start: between.start as number, end: between.end as number } } : {}),
    ...(days ? { days: days as Weekday[] } : {}),
  };
}

function previousDay(day: Weekday): Weekday {
  return WEEKDAYS[(WEEKDAYS.indexOf(day) + 6) % 7] as Weekday;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string | undefined): Intl.DateTimeFormat {
  // Not a name any time zone has: "" names none, and must not find the system's.
  const key = timeZone ?? "\0system";
  let found = formatters.get(key);
  if (!found) {
    found = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formatters.set(key, found);
  }
  return found;
}
