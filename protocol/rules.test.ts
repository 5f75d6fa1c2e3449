import { describe, expect, test } from "bun:test";
import { ProtocolError } from "./errors.ts";
import {
  decodeRule,
  localTime,
  parseDays,
  parseWindow,
  type RequestFacts,
  type Rule,
  ruleMatches,
  type Weekday,
} from "./rules.ts";

const rule = (fields: Partial<Rule>): Rule => ({
  id: "r1",
  action: "block",
  app: "games",
  ...fields,
});
/** A request at `weekday` `hhmm`, whatever time zone a rule names. */
const at = (weekday: Weekday, hhmm: string, extra: object = {}): RequestFacts => ({
  app: "games",
  client: "192.168.1.7",
  localTime: () => ({ weekday, minute: Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3)) }),
  ...extra,
});

describe("ruleMatches", () => {
  test("an app rule matches that app, and * matches every app", () => {
    expect(ruleMatches(rule({}), at("mon", "12:00"))).toBe(true);
    expect(ruleMatches(rule({}), at("mon", "12:00", { app: "notes" }))).toBe(false);
    expect(ruleMatches(rule({ app: "*" }), at("mon", "12:00", { app: "notes" }))).toBe(true);
  });

  test("a client or device rule matches only that client or device", () => {
    expect(ruleMatches(rule({ client: "192.168.1.7" }), at("mon", "12:00"))).toBe(true);
    expect(ruleMatches(rule({ client: "192.168.1.8" }), at("mon", "12:00"))).toBe(false);
    expect(ruleMatches(rule({ device: "tablet" }), at("mon", "12:00", { device: "tablet" }))).toBe(
      true,
    );
    expect(ruleMatches(rule({ device: "tablet" }), at("mon", "12:00"))).toBe(false);
  });

  test("a person's or a role's rule matches only their sessions", () => {
    const kid = rule({ user: "kid" });
    expect(ruleMatches(kid, at("mon", "12:00", { user: "kid", role: "child" }))).toBe(true);
    expect(ruleMatches(kid, at("mon", "12:00", { user: "ann", role: "member" }))).toBe(false);
    expect(ruleMatches(kid, at("mon", "12:00"))).toBe(false);
    const children = rule({ role: "child" });
    expect(ruleMatches(children, at("mon", "12:00", { user: "kid", role: "child" }))).toBe(true);
    expect(ruleMatches(children, at("mon", "12:00", { user: "ann", role: "member" }))).toBe(false);
    expect(ruleMatches(children, at("mon", "12:00", { device: "tablet" }))).toBe(false);
  });

  test("a window within a day", () => {
    const homework = rule({ between: { start: 15 * 60, end: 18 * 60 } });
    expect(ruleMatches(homework, at("tue", "14:59"))).toBe(false);
    expect(ruleMatches(homework, at("tue", "15:00"))).toBe(true);
    expect(ruleMatches(homework, at("tue", "17:59"))).toBe(true);
    expect(ruleMatches(homework, at("tue", "18:00"))).toBe(false);
  });

  test("a window across midnight belongs to the day it starts on", () => {
    const bedtime = rule({
      between: { start: 21 * 60, end: 7 * 60 },
      days: ["sun", "mon", "tue", "wed", "thu"],
    });
    expect(ruleMatches(bedtime, at("mon", "22:00"))).toBe(true);
    // Friday 06:00 is the end of Thursday night: blocked.
    expect(ruleMatches(bedtime, at("fri", "06:00"))).toBe(true);
    // Friday 22:00 starts a Friday night: not in the days.
    expect(ruleMatches(bedtime, at("fri", "22:00"))).toBe(false);
    // Saturday 06:00 is the end of Friday night: not blocked.
    expect(ruleMatches(bedtime, at("sat", "06:00"))).toBe(false);
    expect(ruleMatches(bedtime, at("mon", "12:00"))).toBe(false);
  });

  test("days without a window", () => {
    const weekend = rule({ days: ["sat", "sun"] });
    expect(ruleMatches(weekend, at("sun", "10:00"))).toBe(true);
    expect(ruleMatches(weekend, at("wed", "10:00"))).toBe(false);
  });

  test("a window and days are read in the rule's time zone, whatever the gateway's own", () => {
    // Monday 2026-01-05 20:30 UTC: 21:30 in Berlin, 15:30 in New York, Tuesday 09:30 in Kiritimati.
    const instant = new Date("2026-01-05T20:30:00Z");
    const asked = (gatewayZone: string): RequestFacts => ({
      app: "games",
      client: "192.168.1.7",
      localTime: (timeZone) => localTime(instant, timeZone ?? gatewayZone),
    });
    const bedtime = rule({
      between: { start: 21 * 60, end: 7 * 60 },
      days: ["mon"],
      timeZone: "Europe/Berlin",
    });
    for (const gatewayZone of ["UTC", "America/New_York", "Pacific/Kiritimati"])
      expect(ruleMatches(bedtime, asked(gatewayZone))).toBe(true);
    expect(ruleMatches({ ...bedtime, timeZone: "America/New_York" }, asked("UTC"))).toBe(false);
    const tuesday = rule({ days: ["tue"], timeZone: "Pacific/Kiritimati" });
    expect(ruleMatches(tuesday, asked("UTC"))).toBe(true);
    // A rule made before rules named a zone: each gateway reads it in its own.
    const { timeZone: _, ...older } = bedtime;
    expect(ruleMatches(older, asked("Europe/Berlin"))).toBe(true);
    expect(ruleMatches(older, asked("UTC"))).toBe(false);
  });
});

describe("parsing", () => {
  test("windows", () => {
    expect(parseWindow("21:00-07:00")).toEqual({ start: 1260, end: 420 });
    expect(parseWindow("00:00-24:00")).toEqual({ start: 0, end: 1440 });
    for (const bad of ["21:00", "25:00-07:00", "21:60-07:00", "9:00-10:00", "10:00-10:00", "x"])
      expect(parseWindow(bad)).toBeUndefined();
  });

  test("days, with ranges that wrap the week", () => {
    expect(parseDays("mon-fri")).toEqual(["mon", "tue", "wed", "thu", "fri"]);
    expect(parseDays("sat,sun")).toEqual(["sun", "sat"]);
    expect(parseDays("fri-mon")).toEqual(["sun", "mon", "fri", "sat"]);
    expect(parseDays("Mon")).toEqual(["mon"]);
    for (const bad of ["monday", "mon-xyz", ""]) expect(parseDays(bad)).toBeUndefined();
  });

  test("local time in a given time zone (the clock is passed in)", () => {
    const instant = new Date("2026-11-27T22:30:00Z"); // a Friday
    expect(localTime(instant, "UTC")).toEqual({ weekday: "fri", minute: 22 * 60 + 30 });
    expect(localTime(instant, "Asia/Shanghai")).toEqual({ weekday: "sat", minute: 6 * 60 + 30 });
    expect(localTime(instant, "America/New_York")).toEqual({
      weekday: "fri",
      minute: 17 * 60 + 30,
    });
  });

  test("decodeRule refuses what it does not know", () => {
    expect(decodeRule({ id: "a", action: "block", app: "x", days: ["mon"] })).toEqual({
      id: "a",
      action: "block",
      app: "x",
      days: ["mon"],
    });
    expect(decodeRule({ id: "b", action: "block", app: "x", user: "kid", role: "child" })).toEqual({
      id: "b",
      action: "block",
      app: "x",
      user: "kid",
      role: "child",
    });
    const zoned = { id: "c", action: "block", app: "x", days: ["sun"], timeZone: "Asia/Tokyo" };
    expect(decodeRule(zoned)).toEqual(zoned as never);
    for (const bad of [
      { id: "a", action: "allow", app: "x" },
      { id: "a", action: "block", app: "x", colour: 1 },
      { id: "a", action: "block", app: "x", days: ["someday"] },
      { id: "a", action: "block", app: "x", days: ["mon"], timeZone: "Mars/Olympus_Mons" },
      // "" must not read as the gateway's own zone.
      { id: "a", action: "block", app: "x", days: ["mon"], timeZone: "" },
      { id: "a", action: "block", app: "x", days: ["mon"], timeZone: 1 },
    ]) {
      expect(() => decodeRule(bad)).toThrow(ProtocolError);
    }
  });
});
