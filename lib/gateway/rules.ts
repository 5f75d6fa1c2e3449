/** The zone's access rules, kept at `system/rules/<id>`: add, list, remove. */
import { randomBytes } from "node:crypto";
import { and, eq, gte, lt } from "drizzle-orm";
import { isRole } from "../../protocol/accounts.ts";
import { ProtocolError } from "../../protocol/errors.ts";
import { checkAppName } from "../../protocol/names.ts";
import { decodeRule, isTimeZone, parseDays, parseWindow, type Rule } from "../../protocol/rules.ts";
import { BuckyError } from "../errors.ts";
import type { StateQueries } from "../store/db.ts";
import { state } from "../store/schema.ts";
import { readDirectory } from "../users/directory.ts";
import type { ZoneWriter } from "../zone/zone-writer.ts";
import { ruleClientAddress } from "./client-address.ts";

const PREFIX = "system/rules/";

export interface RuleRequest {
  readonly action: string;
  readonly app: string;
  readonly client?: string;
  readonly device?: string;
  readonly user?: string;
  readonly role?: string;
  readonly between?: string;
  readonly days?: string;
  /** The IANA time zone `between` and `days` are read in: this device's when not given. */
  readonly timeZone?: string;
}

/**
 * The zone's rules: each one at `system/rules/<its id>`, a key of one segment more. Any
 * member writes under system/rules/, and the prefix holds `system/rules/x/y` too: a rule
 * at another key than its id's was enforced and listed with an id `bucky rule remove`
 * could not find (it removes `system/rules/<id>`), or an id that is a path.
 */
export function readRules(db: StateQueries): Rule[] {
  const rows = db
    .select({ key: state.key, value: state.value })
    .from(state)
    .where(and(gte(state.key, PREFIX), lt(state.key, `${PREFIX}\x7f`)))
    .all();
  return rows.flatMap((row) => {
    if (!row.value) return [];
    try {
      const rule = decodeRule(JSON.parse(row.value));
      if (rule.id.includes("/") || row.key !== `${PREFIX}${rule.id}`) return [];
      // A rule written before addresses were checked, as the gateway sees them: one for a
      // mapped or upper-case address still blocks what it blocked.
      const client = rule.client === undefined ? undefined : ruleClientAddress(rule.client);
      return [client === undefined || client === rule.client ? rule : { ...rule, client }];
    } catch (error) {
      // A malformed rule from a newer bucky is ignored, not enforced wrongly.
      if (error instanceof ProtocolError || error instanceof SyntaxError) return [];
      throw error;
    }
  });
}

export function addRule(zone: ZoneWriter, request: RuleRequest): Rule {
  // A rule matches exactly: a value no request can have would never block anything, unsaid.
  const app = request.app === "*" ? undefined : checkAppName(request.app);
  if (app && !app.ok)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(request.app)} is not an app id: ${app.reason}`,
      "Name an installed app (`bucky app list`), or * for every app.",
    );
  const client = request.client === undefined ? undefined : ruleClientAddress(request.client);
  if (request.client !== undefined && client === undefined)
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(request.client)} is not an IP address`,
      "Name one client address, like 192.168.1.23 or 2001:db8::23.",
    );
  if (request.action !== "block") {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `unknown rule action "${request.action}"`,
      "Rules can block: bucky rule add block --app <app> …",
    );
  }
  const whom = (["client", "device", "user", "role"] as const).filter(
    (field) => request[field] !== undefined,
  );
  if (whom.length > 1) {
    throw new BuckyError(
      "E_USAGE",
      `a rule names one of a client address, a device, a person or a role, not ${whom.join(" and ")}`,
    );
  }
  if (request.user !== undefined && !readDirectory(zone.db, zone.zoneId).people.has(request.user)) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone has no person named ${request.user}`,
      "See them with `bucky user list`.",
    );
  }
  if (request.role !== undefined && !isRole(request.role)) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `"${request.role}" is not a role`,
      "Roles: owner, admin, member, child.",
    );
  }
  if (request.device !== undefined && !zone.membership().byName.has(request.device as never)) {
    throw new BuckyError(
      "E_NOT_FOUND",
      `the zone has no device named ${request.device}`,
      "See them with `bucky devices`.",
    );
  }
  const between = request.between === undefined ? undefined : parseWindow(request.between);
  if (request.between !== undefined && !between) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(request.between)} is not a time window`,
      "Like 21:00-07:00: from, then until, in 24-hour time.",
    );
  }
  const days = request.days === undefined ? undefined : parseDays(request.days);
  if (request.days !== undefined && !days) {
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(request.days)} is not a list of days`,
      "Like mon-fri, or sat,sun.",
    );
  }
  // Read in one zone by every gateway, wherever each is: the one asked for, else this
  // device's (that of the person adding it, as a rule of theirs is meant).
  const timed = between !== undefined || days !== undefined;
  if (request.timeZone !== undefined && !timed)
    throw new BuckyError(
      "E_USAGE",
      "a time zone goes with a window or days",
      "Add --between or --days, or leave out --time-zone.",
    );
  const timeZone = timed ? (request.timeZone ?? systemTimeZone()) : undefined;
  if (timeZone !== undefined && !isTimeZone(timeZone))
    throw new BuckyError(
      "E_INVALID_INPUT",
      `${JSON.stringify(timeZone)} is not a time zone`,
      "Name one as the IANA database does, like Europe/Berlin, America/New_York or UTC.",
    );
  const rule: Rule = {
    id: randomBytes(4).toString("hex"),
    action: "block",
    app: request.app,
    ...(client !== undefined ? { client } : {}),
    ...(request.device !== undefined ? { device: request.device } : {}),
    ...(request.user !== undefined ? { user: request.user } : {}),
    ...(request.role !== undefined ? { role: request.role } : {}),
    ...(between ? { between } : {}),
    ...(days ? { days } : {}),
    ...(timeZone ? { timeZone } : {}),
  };
  zone.write([{ key: `${PREFIX}${rule.id}`, value: JSON.stringify(rule) }]);
  zone.log.info("rule added", { id: rule.id, app: rule.app });
  return rule;
}

export function removeRule(zone: ZoneWriter, id: string): { id: string; removed: true } {
  const row = zone.db
    .select({ value: state.value })
    .from(state)
    .where(eq(state.key, `${PREFIX}${id}`))
    .get();
  if (!row?.value)
    throw new BuckyError("E_NOT_FOUND", `no rule ${id}`, "See the rules with `bucky rule list`.");
  zone.write([{ key: `${PREFIX}${id}`, value: null }]);
  zone.log.info("rule removed", { id });
  return { id, removed: true };
}

/** A rule as a person reads it: "block notes for 192.168.1.7 21:00-07:00 mon-fri". */
export function describeRule(rule: Rule): string {
  const time = (minute: number) =>
    `${String(Math.floor(minute / 60)).padStart(2, "0")}:${String(minute % 60).padStart(2, "0")}`;
  return [
    `block ${rule.app === "*" ? "every app" : rule.app}`,
    rule.client
      ? `for ${rule.client}`
      : rule.device
        ? `for device ${rule.device}`
        : rule.user
          ? `for ${rule.user}`
          : rule.role
            ? `for every ${rule.role}`
            : "for everyone",
    rule.between ? `${time(rule.between.start)}-${time(rule.between.end)}` : "",
    rule.days ? rule.days.join(",") : "",
    rule.timeZone ? `(${rule.timeZone})` : "",
  ]
    .filter(Boolean)
    .join(" ");
}

/** This computer's time zone, as its system names it (TZ, else /etc/localtime). */
export function systemTimeZone(): string {
  return new Intl.DateTimeFormat().resolvedOptions().timeZone;
}
